#include "metrics/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "common/common.h"
#include "common/unique_fd.h"

namespace portcullis::metrics {
namespace {

using prometheus::Counter;
using prometheus::Gauge;
using prometheus::Histogram;

constexpr const char* kConnectionStateNames[kConnectionStates] = {
    "handshake", "authenticating", "authenticated", "starting", "bridging",
    "control",   "waiting",        "watching",      "draining"};
constexpr const char* kSessionEndNames[kSessionEnds] = {"client_exit", "grant_expired",   "revoked",
                                                        "killed",      "upstream_closed", "error"};
constexpr const char* kAuthFailureNames[kAuthFailures] = {
    "invalid_name", "unknown_user",  "user_disabled",  "unknown_key",       "bad_signature",
    "totp_wrong",   "totp_replayed", "mfa_locked_out", "totp_not_enrolled", "totp_unchecked",
    "sso_refused",  "sso_unavailable"};
constexpr const char* kDenialNames[kDenials] = {
    "database_unavailable", "unknown_user",          "user_disabled",     "unknown_target",
    "unknown_login",        "ambiguous_login",       "no_grant",          "grant_pending",
    "grant_expired",        "grant_revoked",         "grant_denied",      "rule_removed",
    "outside_hours",        "mfa_not_enrolled",      "mfa_not_given",     "target_required",
    "max_sessions",         "max_sessions_per_user", "session_unrecorded",
    "source_refused",       "sign_in_method"};
constexpr const char* kUpstreamFailureNames[kUpstreamFailures] = {"unreachable",
                                                                  "host_key_mismatch", "login"};
constexpr const char* kLateCauseNames[kLateCauses] = {"revoke", "kill", "expiry"};
constexpr const char* kPoolNames[kPools] = {"workers", "upstreams", "oversight",
                                            "metrics", "journal",   "listener"};
constexpr const char* kSinkNames[kSinks] = {"webhook", "command", "syslog"};
constexpr const char* kLimitNames[kLimits] = {"max_startups",  "per_source_max_startups",
                                              "auth_back_off", "stalled_handshake",
                                              "max_sessions",  "max_sessions_per_user"};

// How late sessions end: a revocation reaches a session within a second when all is well, so
// the buckets are fine below a second and coarse above (a node cut off from the database).
const Histogram::BucketBoundaries kLatenessBuckets{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300};
// The event loop moves every byte: a millisecond of lag is noticed by someone typing.
const Histogram::BucketBoundaries kLoopLagBuckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                  0.1,   0.25,   0.5,   1,    2.5,   5};

template <typename Metric>
prometheus::Family<Metric>& family(prometheus::detail::Builder<Metric> builder,
                                   prometheus::Registry& registry, const std::string& name,
                                   const std::string& help) {
  return builder.Name(name).Help(help).Register(registry);
}

// One series per label value, made once: events then only add to an atomic.
template <typename Metric, std::size_t N, typename... Args>
std::array<Metric*, N> series_by(prometheus::Family<Metric>& family, const char* label,
                                 const char* const (&values)[N], const Args&... args) {
  std::array<Metric*, N> series{};
  for (std::size_t i = 0; i < N; ++i) series[i] = &family.Add({{label, values[i]}}, args...);
  return series;
}

// A counter that mirrors a total kept elsewhere.
void advance(Counter& counter, std::uint64_t total) {
  const double now = counter.Value();
  if (static_cast<double>(total) > now) counter.Increment(static_cast<double>(total) - now);
}

template <typename Enum, std::size_t N>
const char* lookup(const char* const (&names)[N], Enum value) {
  const auto index = static_cast<std::size_t>(value);
  return index < N ? names[index] : "unknown";
}

}  // namespace

const char* name(ConnectionState state) { return lookup(kConnectionStateNames, state); }
const char* name(SessionEnd end) { return lookup(kSessionEndNames, end); }
const char* name(AuthFailure failure) { return lookup(kAuthFailureNames, failure); }
const char* name(Denial denial) { return lookup(kDenialNames, denial); }
const char* name(UpstreamFailure failure) { return lookup(kUpstreamFailureNames, failure); }
const char* name(LateCause cause) { return lookup(kLateCauseNames, cause); }
const char* name(Pool pool) { return lookup(kPoolNames, pool); }
const char* name(Sink sink) { return lookup(kSinkNames, sink); }
const char* name(Limit limit) { return lookup(kLimitNames, limit); }

double seconds_late(std::chrono::system_clock::time_point due,
                    std::chrono::system_clock::time_point closed) {
  return std::max(0.0, std::chrono::duration<double>(closed - due).count());
}

// Every series, made when the Metrics is, so that a scrape shows each at 0 before it first
// moves (rate() needs the 0) and no event ever looks a series up.
struct Metrics::Series {
  Series() {
    auto& r = *registry;
    connections = series_by(family(prometheus::BuildGauge(), r, "portcullis_connections",
                                   "Client connections open on this node, by phase (state)."),
                            "state", kConnectionStateNames);
    sessions_active = &family(prometheus::BuildGauge(), r, "portcullis_sessions_active",
                              "Sessions on targets running on this node (a session row open).")
                           .Add({});
    sessions_started = &family(prometheus::BuildCounter(), r, "portcullis_sessions_started_total",
                               "Session rows opened on this node (admitted connections).")
                            .Add({});
    sessions_ended =
        series_by(family(prometheus::BuildCounter(), r, "portcullis_sessions_ended_total",
                         "Sessions ended on this node, by end reason."),
                  "reason", kSessionEndNames);
    auth_failures =
        series_by(family(prometheus::BuildCounter(), r, "portcullis_auth_failures_total",
                         "Refused authentication attempts (keys, TOTP codes), by reason."),
                  "reason", kAuthFailureNames);
    denials =
        series_by(family(prometheus::BuildCounter(), r, "portcullis_admission_denials_total",
                         "Authenticated connections refused a session or a connect, by reason."),
                  "reason", kDenialNames);
    upstream_failures =
        series_by(family(prometheus::BuildCounter(), r, "portcullis_upstream_failures_total",
                         "Admitted sessions whose target could not be reached, by reason."),
                  "reason", kUpstreamFailureNames);
    limit_hits = series_by(
        family(prometheus::BuildCounter(), r, "portcullis_connection_limit_hits_total",
               "Connections refused, delayed or evicted by a limit of [server], by limit."),
        "limit", kLimitNames);
    auto& grants_family = family(prometheus::BuildGauge(), r, "portcullis_grants",
                                 "Approved grants by state (active now, or scheduled to start), "
                                 "from the database every 15 s.");
    grants_active = &grants_family.Add({{"state", "active"}});
    grants_scheduled = &grants_family.Add({{"state", "scheduled"}});
    auto& pending_family = family(prometheus::BuildGauge(), r, "portcullis_pending_requests",
                                  "Requests waiting for approvals, by kind (grant or extension), "
                                  "from the database every 15 s.");
    pending_requests = &pending_family.Add({{"kind", "grant"}});
    pending_extensions = &pending_family.Add({{"kind", "extension"}});
    grants_counted_at =
        &family(prometheus::BuildGauge(), r, "portcullis_grants_counted_timestamp_seconds",
                "When the grant gauges were last read from the database (Unix time); stale "
                "while the database is unreachable.")
             .Add({});
    alerts_sent = &family(prometheus::BuildCounter(), r, "portcullis_alerts_sent_total",
                          "Alerts delivered, by channel (sink).");
    alerts_failed = &family(prometheus::BuildCounter(), r, "portcullis_alerts_failed_total",
                            "Alerts not delivered (given up after retries, or dropped), by "
                            "channel (sink).");
    audit_sent = &family(prometheus::BuildCounter(), r, "portcullis_audit_stream_rows_sent_total",
                         "Audit rows delivered to the channels [alerts] audit_stream names.");
    audit_failed =
        &family(prometheus::BuildCounter(), r, "portcullis_audit_stream_rows_failed_total",
                "Audit rows not delivered to a channel [alerts] audit_stream names.");
    recording_raw = &family(prometheus::BuildCounter(), r, "portcullis_recording_raw_bytes_total",
                            "Recorded event bytes written to spool files, before compression.")
                         .Add({});
    recording_stored =
        &family(prometheus::BuildCounter(), r, "portcullis_recording_stored_bytes_total",
                "Compressed recording bytes written to spool files.")
             .Add({});
    backlog_files = &family(prometheus::BuildGauge(), r, "portcullis_spool_backlog_files",
                            "Spool files of ended sessions not yet stored in the database.")
                         .Add({});
    backlog_bytes = &family(prometheus::BuildGauge(), r, "portcullis_spool_backlog_bytes",
                            "Size of the spool files not yet stored in the database.")
                         .Add({});
    live_queue = &family(prometheus::BuildGauge(), r, "portcullis_live_shipping_queue_bytes",
                         "Chunks of running sessions waiting for the next live shipping pass.")
                      .Add({});
    shipping_lag = &family(prometheus::BuildGauge(), r, "portcullis_shipping_lag_seconds",
                           "Age of the oldest recording data possibly not yet in the database.")
                        .Add({});
    lateness =
        series_by(family(prometheus::BuildHistogram(), r, "portcullis_session_end_lateness_seconds",
                         "From the moment the database says a session must end (revocation, kill "
                         "request, grant end) to its closing, by the database's clock, by cause."),
                  "cause", kLateCauseNames, kLatenessBuckets);
    loop_lag = &family(prometheus::BuildHistogram(), r, "portcullis_event_loop_lag_seconds",
                       "How late the event loop ran a timer due every 250 ms.")
                    .Add({}, kLoopLagBuckets);
    database_errors = series_by(
        family(prometheus::BuildCounter(), r, "portcullis_database_errors_total",
               "Database transactions that failed (unreachable, or an SQL error), by pool."),
        "pool", kPoolNames);
    auto& depth_family = family(prometheus::BuildGauge(), r, "portcullis_worker_queue_depth",
                                "Jobs waiting for a thread of a pool, by pool.");
    for (std::size_t i = 0; i < kThreadPools; ++i) {
      queue_depth[i] = &depth_family.Add({{"pool", kPoolNames[i]}});
    }
  }

  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::array<Gauge*, kConnectionStates> connections{};
  Gauge* sessions_active = nullptr;
  Counter* sessions_started = nullptr;
  std::array<Counter*, kSessionEnds> sessions_ended{};
  std::array<Counter*, kAuthFailures> auth_failures{};
  std::array<Counter*, kDenials> denials{};
  std::array<Counter*, kUpstreamFailures> upstream_failures{};
  std::array<Counter*, kLimits> limit_hits{};
  Gauge* grants_active = nullptr;
  Gauge* grants_scheduled = nullptr;
  Gauge* pending_requests = nullptr;
  Gauge* pending_extensions = nullptr;
  Gauge* grants_counted_at = nullptr;
  // A channel's series appear once [alerts] sets it up (made on the first sample that has it).
  prometheus::Family<Counter>* alerts_sent = nullptr;
  prometheus::Family<Counter>* alerts_failed = nullptr;
  prometheus::Family<Counter>* audit_sent = nullptr;
  prometheus::Family<Counter>* audit_failed = nullptr;
  struct SinkSeries {
    Counter* alerts_sent;
    Counter* alerts_failed;
    Counter* audit_sent;
    Counter* audit_failed;
  };
  std::array<std::optional<SinkSeries>, kSinks> sinks;
  Counter* recording_raw = nullptr;
  Counter* recording_stored = nullptr;
  Gauge* backlog_files = nullptr;
  Gauge* backlog_bytes = nullptr;
  Gauge* live_queue = nullptr;
  Gauge* shipping_lag = nullptr;
  std::array<Histogram*, kLateCauses> lateness{};
  Histogram* loop_lag = nullptr;
  std::array<Counter*, kPools> database_errors{};
  std::array<Gauge*, kThreadPools> queue_depth{};
  // sampled() turns totals into counter increments: one sample at a time.
  std::mutex sample_mutex;
};

// The HTTP endpoint (civetweb, through prometheus-cpp's Exposer), when [metrics] listen is set.
struct Metrics::Endpoint {
  std::mutex mutex;
  std::string listen;  // as configured; "" = off
  std::unique_ptr<prometheus::Exposer> exposer;
};

namespace {

// civetweb's "IP:PORT" or "[IPv6]:PORT" (metrics_listen_address) as a socket address. To
// connect to an endpoint that listens on every interface, `to_connect` makes the wildcard
// address the loopback one.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_INET;
};

SocketAddress socket_address(const std::string& address, bool to_connect) {
  SocketAddress result;
  const bool v6 = address.starts_with('[');
  const std::size_t colon = address.rfind(':');
  const std::string host = v6 ? address.substr(1, colon - 2) : address.substr(0, colon);
  const auto port = static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1)));
  if (v6) {
    auto* sa = reinterpret_cast<sockaddr_in6*>(&result.storage);
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons(port);
    ::inet_pton(AF_INET6, host.c_str(), &sa->sin6_addr);
    if (to_connect && IN6_IS_ADDR_UNSPECIFIED(&sa->sin6_addr)) sa->sin6_addr = in6addr_loopback;
    result.length = sizeof(sockaddr_in6);
    result.family = AF_INET6;
  } else {
    auto* sa = reinterpret_cast<sockaddr_in*>(&result.storage);
    sa->sin_family = AF_INET;
    sa->sin_port = htons(port);
    ::inet_pton(AF_INET, host.c_str(), &sa->sin_addr);
    if (to_connect && sa->sin_addr.s_addr == htonl(INADDR_ANY)) {
      sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
    result.length = sizeof(sockaddr_in);
  }
  return result;
}

// Why `address` cannot be bound, asked of the kernel after civetweb failed, whose own message
// does not say.
std::string bind_problem(const std::string& address) {
  const SocketAddress to = socket_address(address, false);
  const UniqueFd fd(::socket(to.family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return std::strerror(errno);
  const int yes = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&to.storage), to.length) != 0) {
    return std::strerror(errno);
  }
  return "";
}

// civetweb's listening thread looks at its stop flag only between polls of 2 s; a connection
// ends the poll, so an endpoint stops (or moves, on a reload) at once instead of 2 s later.
void close_endpoint(std::unique_ptr<prometheus::Exposer>& exposer, const std::string& listen) {
  if (!exposer) return;
  std::atomic<bool> closed{false};
  const SocketAddress to = socket_address(metrics_listen_address(listen), true);
  std::thread waker([&closed, to] {
    while (!closed) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      const UniqueFd fd(::socket(to.family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
      if (!fd) continue;
      if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&to.storage), to.length) != 0 &&
          errno == EINPROGRESS) {
        pollfd writable{fd.get(), POLLOUT, 0};
        ::poll(&writable, 1, 50);
      }
    }
  });
  exposer.reset();
  closed = true;
  waker.join();
}

std::unique_ptr<prometheus::Exposer> open_endpoint(const std::string& listen,
                                                   const std::shared_ptr<prometheus::Registry>& r) {
  const std::string address = metrics_listen_address(listen);
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    // Two threads: a scrape is a few milliseconds; a client that stalls holds one thread for
    // at most the request timeout, not the endpoint.
    exposer = std::make_unique<prometheus::Exposer>(std::vector<std::string>{
        "listening_ports", address, "num_threads", "2", "request_timeout_ms", "10000"});
  } catch (const std::exception& e) {
    const std::string problem = bind_problem(address);
    throw std::runtime_error("cannot serve metrics on " + listen + " ([metrics] listen): " +
                             (problem.empty() ? one_line(e.what()) : problem) +
                             "; choose another address or port, or stop what listens there");
  }
  exposer->RegisterCollectable(r);
  return exposer;
}

}  // namespace

Metrics::Metrics() : series_(std::make_unique<Series>()), endpoint_(std::make_unique<Endpoint>()) {}

Metrics::~Metrics() {
  std::lock_guard<std::mutex> lock(endpoint_->mutex);
  close_endpoint(endpoint_->exposer, endpoint_->listen);
}

void Metrics::serve(const MetricsConfig& config) {
  std::lock_guard<std::mutex> lock(endpoint_->mutex);
  if (config.listen == endpoint_->listen) return;
  if (config.listen.empty()) {
    close_endpoint(endpoint_->exposer, endpoint_->listen);
    spdlog::info("metrics: no longer served on {}", std::exchange(endpoint_->listen, ""));
    return;
  }
  std::unique_ptr<prometheus::Exposer> next;
  try {
    next = open_endpoint(config.listen, series_->registry);
  } catch (const std::runtime_error&) {
    if (!endpoint_->exposer) throw;
    // The endpoint being moved may hold what the new address needs (0.0.0.0:9322 to
    // 127.0.0.1:9322): try again without it, and put it back if that fails too.
    close_endpoint(endpoint_->exposer, endpoint_->listen);
    try {
      next = open_endpoint(config.listen, series_->registry);
    } catch (const std::runtime_error&) {
      try {
        endpoint_->exposer = open_endpoint(endpoint_->listen, series_->registry);
      } catch (const std::exception& e) {
        spdlog::error("metrics: cannot serve on {} again either: {}", endpoint_->listen, e.what());
        endpoint_->listen.clear();
      }
      throw;
    }
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error("[metrics] listen: " + std::string(e.what()));
  }
  close_endpoint(endpoint_->exposer, endpoint_->listen);
  endpoint_->exposer = std::move(next);
  endpoint_->listen = config.listen;
  spdlog::info(
      "metrics: serving http://{}/metrics (no authentication: keep it on a private "
      "address)",
      endpoint_->listen);
}

std::string Metrics::serving() const {
  std::lock_guard<std::mutex> lock(endpoint_->mutex);
  return endpoint_->listen;
}

std::string Metrics::text() const {
  return prometheus::TextSerializer().Serialize(series_->registry->Collect());
}

void Metrics::connection_moved(std::optional<ConnectionState> from,
                               std::optional<ConnectionState> to) {
  if (from == to) return;
  if (from) series_->connections[static_cast<std::size_t>(*from)]->Decrement();
  if (to) series_->connections[static_cast<std::size_t>(*to)]->Increment();
}

void Metrics::session_started() { series_->sessions_started->Increment(); }
void Metrics::session_opened() { series_->sessions_active->Increment(); }
void Metrics::session_closed() { series_->sessions_active->Decrement(); }

void Metrics::session_ended(SessionEnd reason) {
  series_->sessions_ended[static_cast<std::size_t>(reason)]->Increment();
}

void Metrics::auth_failed(AuthFailure reason) {
  series_->auth_failures[static_cast<std::size_t>(reason)]->Increment();
}

void Metrics::admission_denied(Denial reason) {
  series_->denials[static_cast<std::size_t>(reason)]->Increment();
}

void Metrics::upstream_failed(UpstreamFailure reason) {
  series_->upstream_failures[static_cast<std::size_t>(reason)]->Increment();
}

void Metrics::ended_late(LateCause cause, std::chrono::system_clock::time_point due,
                         std::chrono::system_clock::time_point closed) {
  series_->lateness[static_cast<std::size_t>(cause)]->Observe(seconds_late(due, closed));
}

void Metrics::loop_lag(std::chrono::steady_clock::duration lag) {
  series_->loop_lag->Observe(std::max(0.0, std::chrono::duration<double>(lag).count()));
}

void Metrics::grants_counted(const GrantCounts& counts, std::chrono::system_clock::time_point at) {
  Series& s = *series_;
  s.grants_active->Set(static_cast<double>(counts.active));
  s.grants_scheduled->Set(static_cast<double>(counts.scheduled));
  s.pending_requests->Set(static_cast<double>(counts.pending_requests));
  s.pending_extensions->Set(static_cast<double>(counts.pending_extensions));
  s.grants_counted_at->Set(std::chrono::duration<double>(at.time_since_epoch()).count());
}

void Metrics::sampled(const Sample& sample) {
  Series& s = *series_;
  std::lock_guard<std::mutex> lock(s.sample_mutex);
  for (std::size_t i = 0; i < kSinks; ++i) {
    if (!sample.sinks[i]) continue;
    if (!s.sinks[i]) {
      const prometheus::Labels sink{{"sink", kSinkNames[i]}};
      s.sinks[i] = Series::SinkSeries{&s.alerts_sent->Add(sink), &s.alerts_failed->Add(sink),
                                      &s.audit_sent->Add(sink), &s.audit_failed->Add(sink)};
    }
    advance(*s.sinks[i]->alerts_sent, sample.sinks[i]->alerts_sent);
    advance(*s.sinks[i]->alerts_failed, sample.sinks[i]->alerts_failed);
    advance(*s.sinks[i]->audit_sent, sample.sinks[i]->audit_rows_sent);
    advance(*s.sinks[i]->audit_failed, sample.sinks[i]->audit_rows_failed);
  }
  advance(*s.recording_raw, sample.recording_raw_bytes);
  advance(*s.recording_stored, sample.recording_stored_bytes);
  s.backlog_files->Set(static_cast<double>(sample.spool_backlog_files));
  s.backlog_bytes->Set(static_cast<double>(sample.spool_backlog_bytes));
  s.live_queue->Set(static_cast<double>(sample.live_queue_bytes));
  s.shipping_lag->Set(sample.shipping_lag_seconds);
  for (std::size_t i = 0; i < kPools; ++i)
    advance(*s.database_errors[i], sample.database_errors[i]);
  for (std::size_t i = 0; i < kThreadPools; ++i) {
    s.queue_depth[i]->Set(static_cast<double>(sample.queue_depth[i]));
  }
  for (std::size_t i = 0; i < kLimits; ++i) advance(*s.limit_hits[i], sample.limit_hits[i]);
}

}  // namespace portcullis::metrics
