// An event loop per core ([server] threads, issue 18) against the real portcullisd, sshd and
// PostgreSQL: connections are spread over the loops (each loop's thread does the work of its own
// sessions), a revocation reaches sessions on every loop, and session limits stay exact when
// sessions on several loops start at the same moment.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/support/harness.h"

namespace portcullis::e2e {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// CPU seconds each thread of `pid` has run, by thread name (/proc/PID/task/TID/comm and stat).
std::map<std::string, double> thread_cpu_seconds(pid_t pid) {
  std::map<std::string, double> cpu;
  const long ticks = ::sysconf(_SC_CLK_TCK);
  const fs::path tasks = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& task : fs::directory_iterator(tasks)) {
    std::ifstream comm_file(task.path() / "comm");
    std::ifstream stat_file(task.path() / "stat");
    std::string name;
    std::string stat;
    std::getline(comm_file, name);
    std::getline(stat_file, stat);
    // Fields after the command (which may hold spaces) start after its closing parenthesis;
    // utime and stime are fields 14 and 15, the 12th and 13th after the state field.
    const auto after = stat.rfind(')');
    if (after == std::string::npos) continue;
    std::istringstream fields(stat.substr(after + 2));
    std::string field;
    double seconds = 0;
    for (int i = 1; i <= 13 && fields >> field; ++i) {
      if (i == 12 || i == 13) seconds += std::stod(field) / static_cast<double>(ticks);
    }
    cpu[name] += seconds;
  }
  return cpu;
}

class ServerThreads : public ::testing::Test {
 protected:
  void start(std::string_view server_config) {
    bastion.add_server_config(server_config);
    alice = bastion.add_user("alice");
    bob = bastion.add_user("bob");
    bastion.add_target("db01", target);
    bastion.add_key_account("db01", target);
    alice_grant = bastion.add_grant("alice", "db01", target.account());
    bastion.add_grant("bob", "db01", target.account());
    bastion.start();
  }

  RunResult ssh_as(const KeyPair& key, const std::string& login,
                   const std::vector<std::string>& command) {
    return run_ssh(key.private_key, bastion.port(), login, command, RunOptions().with_timeout(90s));
  }

  std::size_t active_sessions() {
    return json::parse(bastion.cli_checked({"session", "list", "--active", "--json"})).size();
  }

  TargetSshd target;
  Bastion bastion;
  KeyPair alice;
  KeyPair bob;
  std::string alice_grant;
};

// Two bulk downloads at once on two loops: each loop's own thread carries one of them. With
// every session on one loop, the second thread would have done nothing.
TEST_F(ServerThreads, TwoTransfersAreCarriedByTwoThreads) {
  start("threads = 2");
  EXPECT_NE(bastion.log().find("2 event loop(s) carry the connections"), std::string::npos)
      << bastion.log();
  const std::map<std::string, double> before = thread_cpu_seconds(bastion.pid());
  ASSERT_TRUE(before.contains("loop 1")) << "no thread named \"loop 1\"";
  const std::string main_thread = "portcullisd";
  ASSERT_TRUE(before.contains(main_thread));

  constexpr std::uintmax_t kBytes = 300'000'000;
  auto download = [&](const KeyPair& key, const std::string& login) {
    const fs::path received = bastion.dir() / (login + ".bytes");
    const RunResult result = run_ssh(key.private_key, bastion.port(), login,
                                     {"head -c " + std::to_string(kBytes) + " /dev/zero"},
                                     RunOptions().with_timeout(120s).with_stdout_file(received));
    const std::uintmax_t size = fs::file_size(received);
    fs::remove(received);
    return std::make_pair(result, size);
  };
  auto first = std::async(std::launch::async, download, alice, "alice+db01");
  auto second = std::async(std::launch::async, download, bob, "bob+db01");
  const auto [a, a_size] = first.get();
  const auto [b, b_size] = second.get();
  EXPECT_EQ(a_size, kBytes) << a.err;
  EXPECT_EQ(b_size, kBytes) << b.err;

  const std::map<std::string, double> after = thread_cpu_seconds(bastion.pid());
  const double main_cpu = after.at(main_thread) - before.at(main_thread);
  const double loop1_cpu = after.at("loop 1") - before.at("loop 1");
  // Moving 300 MB through two SSH connections takes well over a second of CPU; a loop that
  // carried one of them did a good share of it (the recording's compression runs elsewhere).
  EXPECT_GT(main_cpu, 0.3) << "main loop " << main_cpu << " s, loop 1 " << loop1_cpu << " s";
  EXPECT_GT(loop1_cpu, 0.3) << "main loop " << main_cpu << " s, loop 1 " << loop1_cpu << " s";
}

// Sessions on every loop hear of a revocation; others' sessions carry on.
TEST_F(ServerThreads, ARevocationReachesSessionsOnEveryLoop) {
  start("threads = 3");
  std::vector<std::future<RunResult>> alices;
  for (int i = 0; i < 4; ++i) {
    alices.push_back(std::async(
        std::launch::async, [&] { return ssh_as(alice, "alice+db01", {"echo up; sleep 120"}); }));
  }
  auto bobs = std::async(std::launch::async,
                         [&] { return ssh_as(bob, "bob+db01", {"echo up; sleep 8; echo done"}); });
  ASSERT_TRUE(wait_until([&] { return active_sessions() == 5; }, 40s)) << bastion.log();
  const auto revoked_at = Clock::now();
  bastion.cli_checked({"grant", "revoke", alice_grant, "--reason", "loops test"});
  for (auto& session : alices) {
    const RunResult ended = session.get();
    EXPECT_EQ(ended.out, "up\n");
    EXPECT_NE(ended.err.find("revoked at"), std::string::npos) << ended.err;
  }
  EXPECT_LT(Clock::now() - revoked_at, 15s);
  const RunResult bob_session = bobs.get();
  EXPECT_EQ(bob_session.out, "up\ndone\n") << bob_session.err;
}

// Six sessions of one user start at once on four loops: max_sessions_per_user = 2 admits
// exactly two, never a third that checked the count on another loop at the same moment.
TEST_F(ServerThreads, SessionLimitsAreExactAcrossLoops) {
  start("threads = 4\nmax_sessions_per_user = 2");
  std::vector<std::future<RunResult>> attempts;
  for (int i = 0; i < 6; ++i) {
    attempts.push_back(std::async(
        std::launch::async, [&] { return ssh_as(alice, "alice+db01", {"echo up; sleep 20"}); }));
  }
  int admitted = 0;
  int refused = 0;
  for (auto& attempt : attempts) {
    const RunResult result = attempt.get();
    if (result.exit_status == 0 && result.out == "up\n") {
      ++admitted;
    } else if (result.err.find("alice already has 2 sessions open") != std::string::npos) {
      ++refused;
    } else {
      ADD_FAILURE() << "neither admitted nor refused by the limit: " << result.exit_status << " "
                    << result.out << result.err;
    }
  }
  EXPECT_EQ(admitted, 2);
  EXPECT_EQ(refused, 4);
  // The places are given back: the next one is admitted.
  EXPECT_EQ(ssh_as(alice, "alice+db01", {"echo again"}).out, "again\n");
}

}  // namespace
}  // namespace portcullis::e2e
