// The metrics library: every series present (at 0) with its help, events and samples moving
// exactly the series they name, the lateness measure, and the /metrics endpoint served,
// moved, stopped and refused over real sockets, its output checked by the real promtool.
#include "metrics/metrics.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <stdexcept>

#include "common/unique_fd.h"
#include "tests/support/harness.h"
#include "tests/support/prometheus.h"

namespace portcullis::metrics {
namespace {

using namespace std::chrono_literals;
using test::sample_value;

double value(const Metrics& metrics, std::string_view series) {
  const std::string text = metrics.text();
  const std::optional<double> found = sample_value(text, series);
  if (!found) throw std::runtime_error(std::string(series) + " is not in:\n" + text);
  return *found;
}

std::string address(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// A socket listening on 127.0.0.1:port, as another program would hold it.
UniqueFd occupy(std::uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      ::listen(fd.get(), 1) != 0) {
    throw std::runtime_error("cannot occupy port " + std::to_string(port));
  }
  return fd;
}

// Every metric has its HELP and TYPE, and every labelled series exists before it first moves.
TEST(Metrics, EverySeriesIsThereAtZeroWithItsHelp) {
  const Metrics metrics;
  const std::string text = metrics.text();
  for (const char* family : {"portcullis_connections gauge",
                             "portcullis_sessions_active gauge",
                             "portcullis_sessions_started_total counter",
                             "portcullis_sessions_ended_total counter",
                             "portcullis_auth_failures_total counter",
                             "portcullis_admission_denials_total counter",
                             "portcullis_upstream_failures_total counter",
                             "portcullis_connection_limit_hits_total counter",
                             "portcullis_grants gauge",
                             "portcullis_pending_requests gauge",
                             "portcullis_grants_counted_timestamp_seconds gauge",
                             "portcullis_recording_raw_bytes_total counter",
                             "portcullis_recording_stored_bytes_total counter",
                             "portcullis_spool_backlog_files gauge",
                             "portcullis_spool_backlog_bytes gauge",
                             "portcullis_live_shipping_queue_bytes gauge",
                             "portcullis_shipping_lag_seconds gauge",
                             "portcullis_session_end_lateness_seconds histogram",
                             "portcullis_event_loop_lag_seconds histogram",
                             "portcullis_database_errors_total counter",
                             "portcullis_worker_queue_depth gauge"}) {
    const std::string name(std::string_view(family).substr(0, std::string_view(family).find(' ')));
    EXPECT_NE(text.find("# HELP " + name + " "), std::string::npos) << name;
    EXPECT_NE(text.find("# TYPE " + std::string(family) + "\n"), std::string::npos) << family;
  }
  EXPECT_EQ(value(metrics, R"(portcullis_connections{state="bridging"})"), 0);
  EXPECT_EQ(value(metrics, R"(portcullis_sessions_ended_total{reason="revoked"})"), 0);
  EXPECT_EQ(value(metrics, R"(portcullis_auth_failures_total{reason="unknown_key"})"), 0);
  EXPECT_EQ(value(metrics, R"(portcullis_admission_denials_total{reason="no_grant"})"), 0);
  EXPECT_EQ(value(metrics, R"(portcullis_session_end_lateness_seconds_count{cause="kill"})"), 0);
  EXPECT_EQ(value(metrics, R"(portcullis_worker_queue_depth{pool="oversight"})"), 0);
  EXPECT_EQ(value(metrics, R"(portcullis_database_errors_total{pool="listener"})"), 0);
  // Alert channels appear only once [alerts] sets them up.
  EXPECT_EQ(sample_value(text, R"(portcullis_alerts_sent_total{sink="webhook"})"), std::nullopt);
}

// A connection counts in one state at a time, and in none once closed.
TEST(Metrics, AConnectionMovesBetweenStates) {
  Metrics metrics;
  metrics.connection_moved(std::nullopt, ConnectionState::handshake);
  metrics.connection_moved(std::nullopt, ConnectionState::handshake);
  metrics.connection_moved(ConnectionState::handshake, ConnectionState::bridging);
  EXPECT_EQ(value(metrics, R"(portcullis_connections{state="handshake"})"), 1);
  EXPECT_EQ(value(metrics, R"(portcullis_connections{state="bridging"})"), 1);
  metrics.connection_moved(ConnectionState::bridging, std::nullopt);
  metrics.connection_moved(ConnectionState::handshake, std::nullopt);
  EXPECT_EQ(value(metrics, R"(portcullis_connections{state="handshake"})"), 0);
  EXPECT_EQ(value(metrics, R"(portcullis_connections{state="bridging"})"), 0);
}

// Each event adds one to its own series and no other.
TEST(Metrics, EventsCountUnderTheirReason) {
  Metrics metrics;
  metrics.auth_failed(AuthFailure::totp_replayed);
  metrics.admission_denied(Denial::max_sessions_per_user);
  metrics.admission_denied(Denial::max_sessions_per_user);
  metrics.session_ended(SessionEnd::killed);
  metrics.upstream_failed(UpstreamFailure::host_key_mismatch);
  metrics.session_started();
  metrics.session_opened();
  EXPECT_EQ(value(metrics, R"(portcullis_auth_failures_total{reason="totp_replayed"})"), 1);
  EXPECT_EQ(value(metrics, R"(portcullis_auth_failures_total{reason="totp_wrong"})"), 0);
  EXPECT_EQ(value(metrics, R"(portcullis_admission_denials_total{reason="max_sessions_per_user"})"),
            2);
  EXPECT_EQ(value(metrics, R"(portcullis_sessions_ended_total{reason="killed"})"), 1);
  EXPECT_EQ(value(metrics, R"(portcullis_sessions_ended_total{reason="revoked"})"), 0);
  EXPECT_EQ(value(metrics, R"(portcullis_upstream_failures_total{reason="host_key_mismatch"})"), 1);
  EXPECT_EQ(value(metrics, "portcullis_sessions_started_total"), 1);
  EXPECT_EQ(value(metrics, "portcullis_sessions_active"), 1);
  metrics.session_closed();
  EXPECT_EQ(value(metrics, "portcullis_sessions_active"), 0);
}

// Lateness runs from the database's moment to the close; an early close counts as 0.
TEST(Metrics, LatenessIsMeasuredFromTheDatabaseMoment) {
  const auto due = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
  EXPECT_DOUBLE_EQ(seconds_late(due, due + 1500ms), 1.5);
  EXPECT_DOUBLE_EQ(seconds_late(due, due), 0);
  EXPECT_DOUBLE_EQ(seconds_late(due, due - 300ms), 0);

  Metrics metrics;
  metrics.ended_late(LateCause::revoke, due, due + 300ms);
  metrics.ended_late(LateCause::expiry, due, due + 2s);
  EXPECT_EQ(value(metrics, R"(portcullis_session_end_lateness_seconds_count{cause="revoke"})"), 1);
  EXPECT_DOUBLE_EQ(value(metrics, R"(portcullis_session_end_lateness_seconds_sum{cause="revoke"})"),
                   0.3);
  EXPECT_EQ(
      value(metrics, R"(portcullis_session_end_lateness_seconds_bucket{cause="revoke",le="0.25"})"),
      0);
  EXPECT_EQ(
      value(metrics, R"(portcullis_session_end_lateness_seconds_bucket{cause="revoke",le="0.5"})"),
      1);
  EXPECT_EQ(value(metrics, R"(portcullis_session_end_lateness_seconds_count{cause="expiry"})"), 1);
  EXPECT_EQ(value(metrics, R"(portcullis_session_end_lateness_seconds_count{cause="kill"})"), 0);
}

// Totals kept elsewhere become counters that follow them and never go back; levels are set.
TEST(Metrics, SamplesFollowTotalsAndNeverGoBack) {
  Metrics metrics;
  Sample sample;
  sample.sinks[static_cast<std::size_t>(Sink::command)] = Sample::SinkCounts{3, 1, 40, 0};
  sample.recording_raw_bytes = 1000;
  sample.spool_backlog_files = 2;
  sample.shipping_lag_seconds = 12.5;
  sample.database_errors[static_cast<std::size_t>(Pool::journal)] = 4;
  sample.queue_depth[static_cast<std::size_t>(Pool::workers)] = 7;
  sample.limit_hits[static_cast<std::size_t>(Limit::auth_back_off)] = 5;
  metrics.sampled(sample);
  EXPECT_EQ(value(metrics, R"(portcullis_alerts_sent_total{sink="command"})"), 3);
  EXPECT_EQ(value(metrics, R"(portcullis_alerts_failed_total{sink="command"})"), 1);
  EXPECT_EQ(value(metrics, R"(portcullis_audit_stream_rows_sent_total{sink="command"})"), 40);
  EXPECT_EQ(sample_value(metrics.text(), R"(portcullis_alerts_sent_total{sink="syslog"})"),
            std::nullopt);
  EXPECT_EQ(value(metrics, "portcullis_recording_raw_bytes_total"), 1000);
  EXPECT_EQ(value(metrics, "portcullis_spool_backlog_files"), 2);
  EXPECT_EQ(value(metrics, "portcullis_shipping_lag_seconds"), 12.5);
  EXPECT_EQ(value(metrics, R"(portcullis_database_errors_total{pool="journal"})"), 4);
  EXPECT_EQ(value(metrics, R"(portcullis_worker_queue_depth{pool="workers"})"), 7);
  EXPECT_EQ(value(metrics, R"(portcullis_connection_limit_hits_total{limit="auth_back_off"})"), 5);

  sample.recording_raw_bytes = 10;  // a total that went back (a part restarted): ignored
  sample.spool_backlog_files = 0;
  sample.queue_depth[static_cast<std::size_t>(Pool::workers)] = 0;
  metrics.sampled(sample);
  EXPECT_EQ(value(metrics, "portcullis_recording_raw_bytes_total"), 1000);
  EXPECT_EQ(value(metrics, "portcullis_spool_backlog_files"), 0);
  EXPECT_EQ(value(metrics, R"(portcullis_worker_queue_depth{pool="workers"})"), 0);
}

TEST(Metrics, GrantCountsCarryTheirTime) {
  Metrics metrics;
  metrics.grants_counted(GrantCounts{5, 1, 3, 2}, std::chrono::system_clock::time_point(
                                                      std::chrono::seconds(1'700'000'000)));
  EXPECT_EQ(value(metrics, R"(portcullis_grants{state="active"})"), 5);
  EXPECT_EQ(value(metrics, R"(portcullis_grants{state="scheduled"})"), 1);
  EXPECT_EQ(value(metrics, R"(portcullis_pending_requests{kind="grant"})"), 3);
  EXPECT_EQ(value(metrics, R"(portcullis_pending_requests{kind="extension"})"), 2);
  EXPECT_EQ(value(metrics, "portcullis_grants_counted_timestamp_seconds"), 1.7e9);
}

// Only an IP address and a port: no host name, no bare port (every interface), no list.
TEST(MetricsConfig, ListenIsAnAddressAndAPort) {
  EXPECT_EQ(metrics_listen_address("127.0.0.1:9322"), "127.0.0.1:9322");
  EXPECT_EQ(metrics_listen_address("0.0.0.0:9322"), "0.0.0.0:9322");
  EXPECT_EQ(metrics_listen_address("[::1]:9322"), "[::1]:9322");
  for (const char* bad : {"9322", "localhost:9322", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:9322s",
                          "127.0.0.1:9322,0.0.0.0:9323", "[127.0.0.1]:9322", "::1:9322"}) {
    EXPECT_THROW(metrics_listen_address(bad), std::invalid_argument) << bad;
  }
}

// Served, moved and stopped over real sockets; what a scrape returns is what promtool accepts.
TEST(MetricsEndpoint, ServesMovesAndStops) {
  Metrics metrics;
  metrics.session_ended(SessionEnd::revoked);
  const std::uint16_t first = e2e::free_port();
  metrics.serve(MetricsConfig{address(first)});
  EXPECT_EQ(metrics.serving(), address(first));
  test::HttpResponse scrape = test::http_get(first, "/metrics");
  ASSERT_EQ(scrape.status, 200);
  EXPECT_EQ(sample_value(scrape.body, R"(portcullis_sessions_ended_total{reason="revoked"})"), 1);
  if (test::have_promtool()) {
    EXPECT_EQ(test::promtool_problems(scrape.body), std::nullopt) << scrape.body;
  } else {
    std::cout << "promtool is not installed (Debian package prometheus): the format is not "
                 "checked\n";
  }

  metrics.serve(MetricsConfig{address(first)});  // the same address: nothing moves
  EXPECT_EQ(test::http_get(first, "/metrics").status, 200);

  const std::uint16_t second = e2e::free_port();
  metrics.serve(MetricsConfig{address(second)});
  EXPECT_EQ(test::http_get(second, "/metrics").status, 200);
  EXPECT_THROW(test::http_get(first, "/metrics"), std::runtime_error) << "the old port still open";

  metrics.serve(MetricsConfig{});
  EXPECT_EQ(metrics.serving(), "");
  EXPECT_THROW(test::http_get(second, "/metrics"), std::runtime_error) << "still served when off";
}

// A port in use is an error that says so; the endpoint stays where it was (a reload that asks
// for a taken port does not take the metrics away).
TEST(MetricsEndpoint, APortInUseIsAClearErrorAndTheEndpointStays) {
  const std::uint16_t taken = e2e::free_port();
  const UniqueFd holder = occupy(taken);
  Metrics metrics;
  try {
    metrics.serve(MetricsConfig{address(taken)});
    ADD_FAILURE() << "served on a port in use";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot serve metrics on " + address(taken) +
                                         " ([metrics] listen): Address already in use"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(metrics.serving(), "");

  const std::uint16_t free = e2e::free_port();
  metrics.serve(MetricsConfig{address(free)});
  EXPECT_THROW(metrics.serve(MetricsConfig{address(taken)}), std::runtime_error);
  EXPECT_EQ(metrics.serving(), address(free));
  EXPECT_EQ(test::http_get(free, "/metrics").status, 200);
}

// An address of no interface of this host is refused the same way.
TEST(MetricsEndpoint, AnAddressNotOfThisHostIsRefused) {
  Metrics metrics;
  try {
    metrics.serve(MetricsConfig{"192.0.2.1:" + std::to_string(e2e::free_port())});
    ADD_FAILURE() << "served on an address of no interface";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("Cannot assign requested address"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace portcullis::metrics
