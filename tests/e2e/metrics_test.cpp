// portcullisd's /metrics endpoint ([metrics] listen) scraped over plain HTTP while the real ssh
// client, sshd, PostgreSQL and the portcullis CLI play a script: one session, one wrong key,
// one login without a grant, one session revoked while it runs. Every counter must move by
// exactly what happened, and promtool must accept what the endpoint serves.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <future>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/unique_fd.h"
#include "tests/support/harness.h"
#include "tests/support/prometheus.h"

namespace portcullis::e2e {
namespace {

const char* const kConnectionStates[] = {"handshake", "authenticating", "authenticated",
                                         "starting",  "bridging",       "control",
                                         "waiting",   "watching",       "draining"};
const char* const kEndReasons[] = {"client_exit", "grant_expired",   "revoked",
                                   "killed",      "upstream_closed", "error"};
const char* const kPools[] = {"workers", "upstreams", "oversight",
                              "metrics", "journal",   "listener"};

// One scrape of the endpoint.
class Scrape {
 public:
  explicit Scrape(std::uint16_t port) {
    const test::HttpResponse response = test::http_get(port, "/metrics");
    if (response.status != 200) {
      throw std::runtime_error("GET /metrics answered " + std::to_string(response.status));
    }
    text = response.body;
  }
  double operator[](const std::string& series) const {
    const std::optional<double> value = test::sample_value(text, series);
    if (!value) throw std::runtime_error(series + " is not in the scrape:\n" + text);
    return *value;
  }
  // Every series of `family` whose labels include `label`="VALUE" for VALUE in `values`, summed.
  template <std::size_t N>
  double sum(const std::string& family, const std::string& label,
             const char* const (&values)[N]) const {
    double total = 0;
    for (const char* value : values) total += (*this)[family + "{" + label + "=\"" + value + "\"}"];
    return total;
  }
  std::string text;
};

std::string series(const std::string& family, const std::string& label, const std::string& value) {
  return family + "{" + label + "=\"" + value + "\"}";
}

// The totals of every reason a family counts, as the endpoint lists them.
double family_total(const Scrape& scrape, const std::string& family) {
  double total = 0;
  std::istringstream in(scrape.text);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(family + "{")) total += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return total;
}

bool wait_for_active_session(const Bastion& bastion, std::chrono::milliseconds timeout) {
  return wait_until(
      [&] {
        return !nlohmann::json::parse(
                    bastion.cli_checked({"session", "list", "--active", "--json"}))
                    .empty();
      },
      timeout);
}

class MetricsEndpoint : public ::testing::Test {
 protected:
  MetricsEndpoint() : metrics_port(free_port()) {
    alice_key = bastion.add_user("alice");
    bob_key = bastion.add_user("bob");
    bastion.add_target("db01", target);
    bastion.add_key_account("db01", target);
    grant_id = bastion.add_grant("alice", "db01", target.account());
    bastion.append_config("[metrics]\nlisten = \"127.0.0.1:" + std::to_string(metrics_port) +
                          "\"\n");
    bastion.start();
  }

  TargetSshd target;
  Bastion bastion;
  KeyPair alice_key;
  KeyPair bob_key;
  std::string grant_id;
  std::uint16_t metrics_port;
};

TEST_F(MetricsEndpoint, CountersMoveByExactlyWhatHappened) {
  // The first count of the grants table comes right after the start.
  ASSERT_TRUE(wait_until(
      [&] { return Scrape(metrics_port)["portcullis_grants_counted_timestamp_seconds"] > 0; }, 10s))
      << bastion.log();
  const Scrape before(metrics_port);
  EXPECT_EQ(before[series("portcullis_grants", "state", "active")], 1);
  EXPECT_EQ(before[series("portcullis_pending_requests", "kind", "grant")], 0);

  // One session that runs and ends.
  const RunResult ok = run_ssh(alice_key.private_key, bastion.port(), "alice:db01", {"echo hi"});
  ASSERT_EQ(ok.exit_status, 0) << ok.err << bastion.log();
  EXPECT_EQ(ok.out, "hi\n");

  // One key the bastion does not know for alice.
  const TempDir keys;
  const KeyPair stranger = generate_key(keys / "stranger");
  const RunResult wrong_key =
      run_ssh(stranger.private_key, bastion.port(), "alice:db01", {"echo never"});
  EXPECT_EQ(wrong_key.exit_status, 255) << wrong_key.err;

  // One login with no grant.
  const RunResult no_grant = run_ssh(bob_key.private_key, bastion.port(), "bob:db01", {"echo no"});
  EXPECT_EQ(no_grant.exit_status, 255) << no_grant.err;
  EXPECT_NE(no_grant.err.find("portcullis: access denied: no active grant"), std::string::npos)
      << no_grant.err;

  // One session revoked while it runs.
  auto running = std::async(std::launch::async, [&] {
    return run_ssh(alice_key.private_key, bastion.port(), "alice:db01", {"echo started; sleep 60"},
                   RunOptions().with_timeout(40s));
  });
  ASSERT_TRUE(wait_for_active_session(bastion, 15s)) << bastion.log();
  // The row is written before the target is reached; the session bridges once logged in.
  ASSERT_TRUE(wait_until(
      [&] {
        return Scrape(metrics_port)[series("portcullis_connections", "state", "bridging")] == 1;
      },
      15s))
      << bastion.log();
  EXPECT_EQ(Scrape(metrics_port)["portcullis_sessions_active"], 1);
  bastion.cli_checked({"grant", "revoke", grant_id, "--reason", "e2e metrics"});
  const RunResult revoked = running.get();
  EXPECT_FALSE(revoked.timed_out) << "the session survived revocation";

  // The revoked connection drains (its client reads the notice and leaves) before it is gone.
  std::optional<Scrape> after;
  ASSERT_TRUE(wait_until(
      [&] {
        after.emplace(metrics_port);
        return after->sum("portcullis_connections", "state", kConnectionStates) == 0;
      },
      10s))
      << after->text;
  const Scrape& a = *after;
  const auto delta = [&](const std::string& s) { return a[s] - before[s]; };

  EXPECT_EQ(delta("portcullis_sessions_started_total"), 2);
  EXPECT_EQ(delta(series("portcullis_sessions_ended_total", "reason", "client_exit")), 1);
  EXPECT_EQ(delta(series("portcullis_sessions_ended_total", "reason", "revoked")), 1);
  EXPECT_EQ(a.sum("portcullis_sessions_ended_total", "reason", kEndReasons) -
                before.sum("portcullis_sessions_ended_total", "reason", kEndReasons),
            2);
  EXPECT_EQ(a["portcullis_sessions_active"], 0);

  EXPECT_EQ(delta(series("portcullis_auth_failures_total", "reason", "unknown_key")), 1);
  EXPECT_EQ(family_total(a, "portcullis_auth_failures_total") -
                family_total(before, "portcullis_auth_failures_total"),
            1);
  EXPECT_EQ(delta(series("portcullis_admission_denials_total", "reason", "no_grant")), 1);
  EXPECT_EQ(family_total(a, "portcullis_admission_denials_total") -
                family_total(before, "portcullis_admission_denials_total"),
            1);
  EXPECT_EQ(family_total(a, "portcullis_upstream_failures_total"), 0);

  // The revocation reached the session within a second of revoked_at, by the database's clock.
  const std::string revoke = "{cause=\"revoke\"}";
  EXPECT_EQ(delta("portcullis_session_end_lateness_seconds_count" + revoke), 1);
  const double late = delta("portcullis_session_end_lateness_seconds_sum" + revoke);
  EXPECT_GE(late, 0);
  EXPECT_LT(late, 2.0);
  EXPECT_EQ(delta("portcullis_session_end_lateness_seconds_count{cause=\"kill\"}"), 0);
  EXPECT_EQ(delta("portcullis_session_end_lateness_seconds_count{cause=\"expiry\"}"), 0);

  // Both sessions were recorded; nothing failed on the way to the database.
  EXPECT_GT(delta("portcullis_recording_raw_bytes_total"), 0);
  EXPECT_GT(delta("portcullis_recording_stored_bytes_total"), 0);
  EXPECT_EQ(a.sum("portcullis_database_errors_total", "pool", kPools), 0);
  // The event loop's lag is measured 4 times a second.
  EXPECT_GT(delta("portcullis_event_loop_lag_seconds_count"), 0);

  if (!test::have_promtool()) {
    GTEST_SKIP() << "promtool is not installed (Debian package prometheus, see "
                    "scripts/bootstrap): the exposition format was not checked";
  }
  EXPECT_EQ(test::promtool_problems(a.text), std::nullopt) << a.text;
}

// A [metrics] listen that cannot be served stops the daemon at start, saying why, before it
// takes a single SSH connection.
TEST(MetricsStartup, APortInUseRefusesToStart) {
  const std::uint16_t taken = free_port();
  UniqueFd holder(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(taken);
  ASSERT_EQ(::bind(holder.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::listen(holder.get(), 1), 0);

  Bastion bastion;
  bastion.append_config("[metrics]\nlisten = \"127.0.0.1:" + std::to_string(taken) + "\"\n");
  const RunResult r =
      run({(bin_dir() / "portcullisd").string(), "-c", bastion.config_file().string()},
          RunOptions().with_timeout(20s));
  EXPECT_FALSE(r.timed_out) << "portcullisd started with its metrics port taken";
  EXPECT_EQ(r.exit_status, 1) << r.err;
  EXPECT_NE(r.err.find("portcullisd: cannot serve metrics on 127.0.0.1:" + std::to_string(taken) +
                       " ([metrics] listen): Address already in use"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("listening on"), std::string::npos) << "the SSH port was opened: " << r.err;
}

// A host name is refused when the config is read: the endpoint has no authentication, so what
// it listens on must be exactly what the administrator wrote.
TEST(MetricsStartup, AHostNameIsAConfigError) {
  Bastion bastion;
  bastion.append_config("[metrics]\nlisten = \"localhost:9322\"\n");
  const RunResult r =
      run({(bin_dir() / "portcullisd").string(), "-c", bastion.config_file().string()},
          RunOptions().with_timeout(20s));
  EXPECT_EQ(r.exit_status, 2) << r.err;
  EXPECT_NE(r.err.find("'listen' in [metrics]"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("is not an IP address and port"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace portcullis::e2e
