// Issue 14, item 2: revocation never waits behind logins. Against a portcullisd with its default
// limits, while 500 connections trickle their SSH identification line one byte a second, 1000
// public keys nobody registered are offered and 50 logins hang on a target that accepts TCP and
// never answers, a legitimate user still logs in within 2 s, a revoke ends their session within
// 1 s of the command's return, and the daemon is the same process at the end.
#include <gtest/gtest.h>

#include <iostream>
#include <string>
#include <vector>

#include "tests/support/attack_mix.h"
#include "tests/support/harness.h"

namespace portcullis::e2e {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kStuckUsers = 10;
constexpr int kStuckLogins = 50;
constexpr int kUpstreamThreads = 32;  // [server] upstream_threads by default
// The legitimate user's own address; the attackers use 127.0.1.x to 127.0.3.x.
constexpr const char* kUserAddress = "127.0.9.9";

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

class Attack : public ::testing::Test {
 protected:
  void SetUp() override {
    alice = bastion.add_user("alice");
    bastion.add_target("db01", target);
    bastion.add_key_account("db01", target);
    grant = bastion.add_grant("alice", "db01", target.account());
    // The dead target: any pinned key will do, the bastion never gets as far as checking it.
    bastion.cli_checked({"target", "add", "void01", "--host", "127.0.0.1", "--port",
                         std::to_string(dead.port()), "--host-key",
                         target.host_key().public_key().string()});
    bastion.cli_checked({"account", "add", "void01", target.account(), "--key-file",
                         target.account_key().private_key.string()});
    // Real users with real grants, whose logins all hang on the dead target.
    for (int u = 0; u < kStuckUsers; ++u) {
      const std::string name = "stuck" + std::to_string(u);
      stuck_keys.push_back(bastion.add_user(name));
      bastion.add_grant(name, "void01", target.account());
    }
    bastion.start();
  }

  AttackPlan plan() {
    AttackPlan plan;
    plan.port = bastion.port();
    plan.guessed_login = "alice+db01";  // the account an attacker would go for
    plan.dir = bastion.dir();
    for (int i = 0; i < kStuckLogins; ++i) {
      const std::string user = "stuck" + std::to_string(i % kStuckUsers);
      std::vector<std::string> argv{"ssh"};
      for (const std::string& option :
           ssh_client_options(stuck_keys[i % kStuckUsers].private_key, bastion.port())) {
        argv.push_back(option);
      }
      argv.insert(argv.end(), {"-b", "127.0.3." + std::to_string(i + 1), user + "+void01@127.0.0.1",
                               "echo never"});
      plan.stuck_logins.push_back(std::move(argv));
    }
    return plan;
  }

  int sessions_hanging_on_dead_target() {
    return std::stoi(PostgresCluster::shared().query(
        bastion.database(),
        "SELECT count(*) FROM sessions s JOIN grants g ON g.id = s.grant_id "
        "JOIN accounts a ON a.id = g.account_id JOIN targets t ON t.id = a.target_id "
        "WHERE s.ended_at IS NULL AND t.name = 'void01'"));
  }

  std::size_t log_count(const std::string& needle) {
    const std::string log = bastion.log();
    std::size_t count = 0;
    for (auto at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) {
      ++count;
    }
    return count;
  }

  TargetSshd target;
  DeadTarget dead;
  Bastion bastion;  // default limits: nothing is raised for the attack
  KeyPair alice;
  std::string grant;
  std::vector<KeyPair> stuck_keys;
};

TEST_F(Attack, LegitimateLoginAndRevocationGetThroughTheAttackMix) {
  const pid_t daemon = bastion.pid();
  AttackMix attack(plan());

  // In full swing: all 500 slowloris connections were opened, every unauthenticated place was
  // taken (newcomers evict slowloris connections, or are dropped) and the 50 logins hang on the
  // dead target with their session rows written.
  ASSERT_TRUE(wait_until(
      [&] {
        return attack.counts().slowloris_opened >= 500 &&
               log_count("limit stalled_handshake hit") + log_count("limit max_startups hit") > 0 &&
               sessions_hanging_on_dead_target() == kStuckLogins;
      },
      30s))
      << "the attack never got going: " << sessions_hanging_on_dead_target()
      << " logins hang on the dead target\n"
      << attack.counts().failure;
  std::cout << "in full swing: " << attack.counts().slowloris_open
            << " slowloris connections open\n";
  EXPECT_FALSE(attack.guessing_done()) << "the key guessing is over before the user came";

  // Three logins with a command, then a shell that stays: each within 2 s, command output seen.
  for (int i = 0; i < 3; ++i) {
    const std::string word = "through-" + std::to_string(i);
    const RunResult login = run_ssh(alice.private_key, bastion.port(), "alice+db01", {"echo", word},
                                    RunOptions().with_timeout(30s), {"-b", kUserAddress});
    std::cout << "login " << i << ": " << login.elapsed.count() << " ms\n";
    EXPECT_EQ(login.out, word + "\n") << login.err;
    EXPECT_LE(login.elapsed, 2s) << "login " << i << " under attack";
  }
  std::vector<std::string> shell{"ssh", "-tt", "-b", kUserAddress};
  for (const std::string& option : ssh_client_options(alice.private_key, bastion.port())) {
    shell.push_back(option);
  }
  shell.insert(shell.end(), {"alice+db01@127.0.0.1", "echo ready-$((6*7)); exec sleep 600"});
  const auto opened = Clock::now();
  PtySession session(shell);
  ASSERT_TRUE(session.expect("ready-42", 30s)) << session.transcript();
  const auto ready_after = Clock::now() - opened;
  std::cout << "interactive login: " << seconds(ready_after) << " s\n";
  EXPECT_LE(ready_after, 2s) << "interactive login under attack";

  // The revoke, while the attack still runs: the session ends within a second of its return.
  // Each stuck login starts again when it gives up after upstream_timeout: nearly all hang now.
  EXPECT_GT(sessions_hanging_on_dead_target(), kUpstreamThreads);
  EXPECT_FALSE(attack.guessing_done()) << "the key guessing was over before the revoke";
  const RunResult revoke = bastion.cli({"grant", "revoke", grant, "--reason", "attack drill"});
  const auto revoked = Clock::now();
  ASSERT_EQ(revoke.exit_status, 0) << revoke.err;
  const auto ended = session.wait_exit(10s);
  const auto late = Clock::now() - revoked;
  std::cout << "revoke to session end: " << seconds(late) << " s\n";
  ASSERT_TRUE(ended) << session.transcript();
  EXPECT_LE(late, 1s) << session.transcript();
  EXPECT_NE(session.transcript().find("revoked"), std::string::npos) << session.transcript();

  // Every key attempt arrives; the daemon refused them all and is still the same process.
  EXPECT_TRUE(wait_until([&] { return attack.guessing_done(); }, 60s))
      << attack.counts().key_attempts << " key attempts made";
  attack.stop();
  const AttackCounts after = attack.counts();
  std::cout << "attack: " << after.slowloris_opened << " slowloris connections ("
            << after.slowloris_closed << " closed by the daemon), " << after.guess_connections
            << " guessing connections (" << after.refused_connections
            << " refused every key: " << after.key_attempts << " attempts), " << after.stuck_started
            << " logins to the dead target (" << after.stuck_ended << " gave up)\n";
  EXPECT_TRUE(after.failure.empty()) << after.failure;
  EXPECT_GE(after.key_attempts, 1000u);
  EXPECT_GE(log_count("authentication refused for alice+db01"), 1000u);
  EXPECT_TRUE(bastion.running());
  EXPECT_EQ(bastion.pid(), daemon) << "portcullisd restarted";
}

}  // namespace
}  // namespace portcullis::e2e
