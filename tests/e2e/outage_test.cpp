// Database outages (issue 21): the real PostgreSQL is stopped and started by the test while real
// sessions run through portcullisd. Sessions that end during the outage (client exit, expiry,
// revocation; a hundred at once) keep their true end reason, exit status and end time, even
// across a SIGKILL of the daemon; logins right after the database returns all succeed.
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/support/harness.h"

namespace portcullis::e2e {
namespace {

using Clock = std::chrono::system_clock;
using nlohmann::json;

// The bounds: ends written within 5 s of the database's return, end times within 1 s.
constexpr auto kWrittenWithin = 5s;
constexpr double kEndTimeTolerance = 1.0;
// How long the database stays down in the tests that end sessions during the outage.
constexpr auto kOutage = 15s;

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// A session's end as the database holds it, to the microsecond.
struct StoredEnd {
  std::string reason;
  std::string exit_status;  // "" when none
  Clock::time_point at;
};

class DatabaseOutage : public ::testing::Test {
 protected:
  PostgresCluster& cluster = PostgresCluster::shared();
  Gateway gateway;

  ~DatabaseOutage() override {
    // A failed assertion must not leave the next test without its database.
    try {
      cluster.query(gateway.bastion.database(), "SELECT 1");
    } catch (const std::exception&) {
      cluster.start();
    }
  }

  std::vector<std::string> ssh_argv(const KeyPair& key, const std::string& login,
                                    const std::string& command) const {
    std::vector<std::string> argv{"ssh"};
    const auto options = ssh_client_options(key.private_key, gateway.bastion.port());
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back(login + "@127.0.0.1");
    argv.push_back(command);
    return argv;
  }

  json sessions(const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> args{"session", "list", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return json::parse(gateway.bastion.cli_checked(args));
  }

  bool wait_for_active(std::size_t count, std::chrono::milliseconds timeout = 60s) const {
    return wait_until([&] { return sessions({"--active"}).size() >= count; }, timeout);
  }

  // Ends by session id, read straight from the database (microseconds, not the CLI's seconds).
  std::map<long long, StoredEnd> stored_ends() const {
    std::map<long long, StoredEnd> ends;
    const std::string rows = cluster.query(
        gateway.bastion.database(),
        "SELECT id || '|' || end_reason || '|' || coalesce(exit_status::text, '') || '|' ||"
        " extract(epoch FROM ended_at) FROM sessions WHERE ended_at IS NOT NULL ORDER BY id");
    std::istringstream lines(rows);
    for (std::string line; std::getline(lines, line);) {
      std::vector<std::string> fields;
      std::istringstream parts(line);
      for (std::string field; std::getline(parts, field, '|');) fields.push_back(field);
      if (fields.size() == 3) fields.insert(fields.begin() + 2, "");
      if (fields.size() != 4) continue;
      ends[std::stoll(fields[0])] = {fields[1], fields[2], from_epoch(fields[3])};
    }
    return ends;
  }

  // Waits until every session in `ids` has an end in the database.
  std::map<long long, StoredEnd> wait_for_ends(const std::vector<long long>& ids,
                                               std::chrono::milliseconds timeout) const {
    std::map<long long, StoredEnd> ends;
    wait_until(
        [&] {
          try {
            ends = stored_ends();
          } catch (const std::exception&) {
            return false;  // still starting up
          }
          return std::all_of(ids.begin(), ids.end(),
                             [&](long long id) { return ends.contains(id); });
        },
        timeout);
    return ends;
  }

  int session_end_audit_rows(long long id) const {
    return std::stoi(cluster.query(gateway.bastion.database(),
                                   "SELECT count(*) FROM audit_events WHERE action = 'session.end'"
                                   " AND object = 'session:" +
                                       std::to_string(id) + "'"));
  }

  long long session_of(const std::string& grant_id) const {
    for (const json& s : sessions()) {
      if (std::to_string(s["grant_id"].get<long long>()) == grant_id) return s["id"];
    }
    return 0;
  }

  Clock::time_point grant_expiry(const std::string& grant_id) const {
    return from_epoch(
        cluster.query(gateway.bastion.database(),
                      "SELECT extract(epoch FROM expires_at) FROM grants WHERE id = " + grant_id));
  }

  void expect_audit_chain_intact() const {
    const RunResult verified = gateway.bastion.cli({"audit", "verify"});
    EXPECT_EQ(verified.exit_status, 0) << verified.out << verified.err;
  }
};

// Waits for a child to end; its exit status, or nullopt on timeout.
std::optional<int> wait_exit(PipedProcess& process, std::chrono::milliseconds timeout) {
  std::optional<int> status;
  wait_until([&] { return (status = process.exit_status()).has_value(); }, timeout);
  return status;
}

// When the client saw its session end (polled every 20 ms): the session's true end.
std::future<std::optional<Clock::time_point>> exit_time(PipedProcess& process,
                                                        std::chrono::milliseconds timeout) {
  return std::async(std::launch::async, [&process, timeout]() -> std::optional<Clock::time_point> {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (process.exit_status()) return Clock::now();
      std::this_thread::sleep_for(20ms);
    }
    return std::nullopt;
  });
}

TEST_F(DatabaseOutage, EndsDuringTheOutageKeepTheirReasonExitStatusAndTime) {
  // Three sessions, one per way to end: alice exits with status 3, bob's grant expires, carol's
  // grant is revoked.
  const KeyPair bob_key = gateway.bastion.add_user("bob");
  const KeyPair carol_key = gateway.bastion.add_user("carol");
  const std::string carol_grant =
      gateway.bastion.add_grant("carol", "db01", gateway.target.account());
  PipedProcess alice(ssh_argv(gateway.user_key, gateway.login(), "read line; exit 3"));
  PipedProcess carol(ssh_argv(carol_key, "carol:db01", "sleep 300"));
  // Bob's grant ends a few seconds into the outage.
  const std::string bob_grant =
      gateway.bastion.add_grant("bob", "db01", gateway.target.account(), "12s");
  PipedProcess bob(ssh_argv(bob_key, "bob:db01", "sleep 300"));
  ASSERT_TRUE(wait_for_active(3)) << gateway.bastion.log();
  const long long alice_session = session_of(gateway.grant_id);
  const long long bob_session = session_of(bob_grant);
  const long long carol_session = session_of(carol_grant);
  const Clock::time_point bob_expires = grant_expiry(bob_grant);

  // The revocation reaches the daemon as the database goes down: the daemon may end the
  // session before the stop or only once the database is back (it learns of revocations from
  // the database). Either way the stored end must be when the session really ended.
  auto carol_exited = exit_time(carol, kOutage + 30s);
  auto bob_exited = exit_time(bob, kOutage + 30s);
  gateway.bastion.cli_checked({"grant", "revoke", carol_grant, "--reason", "outage test"});
  cluster.stop();
  const auto stopped = std::chrono::steady_clock::now();

  ASSERT_EQ(::write(alice.input(), "bye\n", 4), 4);
  const Clock::time_point alice_exited = Clock::now();
  EXPECT_EQ(wait_exit(alice, 10s), 3) << gateway.bastion.log();
  ASSERT_GT(bob_expires, Clock::now()) << "bob's grant expired before the outage";

  std::this_thread::sleep_until(stopped + kOutage);
  ASSERT_EQ(gateway.bastion.running(), true);
  cluster.start();
  const Clock::time_point back = Clock::now();
  const auto ends = wait_for_ends({alice_session, bob_session, carol_session}, kWrittenWithin + 1s);

  ASSERT_TRUE(ends.contains(alice_session)) << gateway.bastion.log();
  EXPECT_EQ(ends.at(alice_session).reason, "client_exit");
  EXPECT_EQ(ends.at(alice_session).exit_status, "3");
  EXPECT_LE(std::abs(seconds_between(alice_exited, ends.at(alice_session).at)), kEndTimeTolerance);

  const std::optional<Clock::time_point> bob_end = bob_exited.get();
  ASSERT_TRUE(bob_end) << "bob's session outlived its grant\n" << gateway.bastion.log();
  EXPECT_LT(*bob_end, back) << "bob's session was to end during the outage";
  ASSERT_TRUE(ends.contains(bob_session)) << gateway.bastion.log();
  EXPECT_EQ(ends.at(bob_session).reason, "grant_expired");
  EXPECT_LE(std::abs(seconds_between(bob_expires, ends.at(bob_session).at)), kEndTimeTolerance);

  const std::optional<Clock::time_point> carol_end = carol_exited.get();
  ASSERT_TRUE(carol_end) << "carol's session survived the revocation\n" << gateway.bastion.log();
  ASSERT_TRUE(ends.contains(carol_session)) << gateway.bastion.log();
  EXPECT_EQ(ends.at(carol_session).reason, "revoked");
  EXPECT_LE(std::abs(seconds_between(*carol_end, ends.at(carol_session).at)), kEndTimeTolerance);

  for (long long id : {alice_session, bob_session, carol_session}) {
    EXPECT_EQ(session_end_audit_rows(id), 1) << "session " << id;
  }
  expect_audit_chain_intact();
}

TEST_F(DatabaseOutage, SigkillDuringTheOutageKeepsTheEndsForTheNextStart) {
  // One after the other, so the session ids say which is which.
  PipedProcess ending(ssh_argv(gateway.user_key, gateway.login(), "read line; exit 0"));
  ASSERT_TRUE(wait_for_active(1)) << gateway.bastion.log();
  PipedProcess running(ssh_argv(gateway.user_key, gateway.login(), "sleep 300"));
  ASSERT_TRUE(wait_for_active(2)) << gateway.bastion.log();
  const json listed = sessions();
  ASSERT_EQ(listed.size(), 2u);
  const long long ended_session = listed[0]["id"];
  const long long crashed_session = listed[1]["id"];

  cluster.stop();
  ASSERT_EQ(::write(ending.input(), "bye\n", 4), 4);
  const Clock::time_point exited = Clock::now();
  EXPECT_EQ(wait_exit(ending, 10s), 0) << gateway.bastion.log();
  // The end is on disk before the daemon dies: the journal is fdatasync'ed as it is written.
  const fs::path journal = gateway.bastion.dir() / "state/database.journal";
  ASSERT_TRUE(wait_until(
      [&] { return read_file(journal).find("\"session.end\"") != std::string::npos; }, 5s))
      << gateway.bastion.log();
  gateway.bastion.kill();
  cluster.start();

  // Before the daemon is back, the CLI shows the queued end from the journal, not "running".
  const json before = sessions();
  ASSERT_EQ(before.size(), 2u);
  EXPECT_EQ(before[0]["state"], "ending") << before.dump(2);
  EXPECT_EQ(before[0]["end_reason"], "client_exit") << before.dump(2);
  EXPECT_EQ(before[0]["exit_status"], 0) << before.dump(2);
  EXPECT_EQ(before[1]["state"], "running") << before.dump(2);
  EXPECT_TRUE(sessions({"--active"}).size() == 1u) << "an ending session is not active";

  gateway.bastion.start();
  const auto ends = wait_for_ends({ended_session, crashed_session}, kWrittenWithin);
  ASSERT_TRUE(ends.contains(ended_session)) << gateway.bastion.log();
  EXPECT_EQ(ends.at(ended_session).reason, "client_exit");
  EXPECT_EQ(ends.at(ended_session).exit_status, "0");
  EXPECT_LE(std::abs(seconds_between(exited, ends.at(ended_session).at)), kEndTimeTolerance);
  // The session cut short by the crash has no true end to keep: it is closed as an error, after
  // the journal, so the one that ended properly keeps its end.
  ASSERT_TRUE(ends.contains(crashed_session)) << gateway.bastion.log();
  EXPECT_EQ(ends.at(crashed_session).reason, "error");
  EXPECT_EQ(sessions()[0]["state"], "ended");

  // Replaying the journal wrote each end once, and the chain still verifies.
  EXPECT_EQ(session_end_audit_rows(ended_session), 1);
  EXPECT_EQ(session_end_audit_rows(crashed_session), 1);
  expect_audit_chain_intact();
  EXPECT_TRUE(wait_until([&] { return read_file(journal).empty(); }, 5s))
      << "the journal is emptied once written";
}

TEST_F(DatabaseOutage, LoginsRightAfterTheDatabaseReturnsAllSucceed) {
  constexpr int kLogins = 20;
  // Every worker holds a connection from before the outage: the broken ones are what a login
  // meets first once the database is back.
  std::vector<std::future<RunResult>> warm_up;
  for (int i = 0; i < 8; ++i) {
    warm_up.push_back(std::async(std::launch::async, [&] {
      return run_ssh(gateway.user_key.private_key, gateway.bastion.port(), gateway.login(),
                     {"echo warm"});
    }));
  }
  for (auto& login : warm_up) ASSERT_EQ(login.get().exit_status, 0) << gateway.bastion.log();

  cluster.stop();
  std::this_thread::sleep_for(2s);
  cluster.start();
  const auto back = std::chrono::steady_clock::now();
  std::vector<std::future<RunResult>> logins;
  for (int i = 0; i < kLogins; ++i) {
    logins.push_back(std::async(std::launch::async, [&, i] {
      std::this_thread::sleep_until(back + i * 3000ms / kLogins);
      return run_ssh(gateway.user_key.private_key, gateway.bastion.port(), gateway.login(),
                     {"echo login-" + std::to_string(i)});
    }));
  }
  for (int i = 0; i < kLogins; ++i) {
    const RunResult result = logins[i].get();
    EXPECT_EQ(result.exit_status, 0) << "login " << i << ": " << result.err;
    EXPECT_EQ(result.out, "login-" + std::to_string(i) + "\n") << result.err;
  }
  EXPECT_EQ(gateway.bastion.log().find("the access database is unreachable"), std::string::npos)
      << gateway.bastion.log();
}

TEST_F(DatabaseOutage, HundredSessionsEndingTogetherLoseNone) {
  constexpr std::size_t kSessions = 100;
  // One user holds them all: beyond the default max_sessions_per_user (10).
  gateway.bastion.stop();
  gateway.bastion.add_server_config("max_sessions_per_user = 200");
  gateway.bastion.start();
  // In waves, so the target's sshd (MaxStartups 10) never drops an unauthenticated connection.
  std::vector<std::unique_ptr<PipedProcess>> clients;
  while (clients.size() < kSessions) {
    for (int i = 0; i < 10; ++i) {
      clients.push_back(std::make_unique<PipedProcess>(
          ssh_argv(gateway.user_key, gateway.login(), "read line; exit 7")));
    }
    ASSERT_TRUE(wait_for_active(clients.size(), 60s)) << gateway.bastion.log();
  }
  std::vector<long long> ids;
  for (const json& s : sessions()) ids.push_back(s["id"]);
  ASSERT_EQ(ids.size(), kSessions);

  cluster.stop();
  const auto stopped = std::chrono::steady_clock::now();
  for (auto& client : clients) ASSERT_EQ(::write(client->input(), "bye\n", 4), 4);
  for (auto& client : clients) EXPECT_EQ(wait_exit(*client, 30s), 7) << gateway.bastion.log();
  std::this_thread::sleep_until(stopped + 5s);
  cluster.start();

  const auto ends = wait_for_ends(ids, kWrittenWithin);
  EXPECT_EQ(ends.size(), kSessions) << gateway.bastion.log();
  for (long long id : ids) {
    ASSERT_TRUE(ends.contains(id)) << "session " << id << " lost its end";
    EXPECT_EQ(ends.at(id).reason, "client_exit");
    EXPECT_EQ(ends.at(id).exit_status, "7");
  }
  expect_audit_chain_intact();
}

}  // namespace
}  // namespace portcullis::e2e
