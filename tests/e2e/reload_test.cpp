// SIGHUP: the config is read again while sessions run. A changed rule governs the next request
// and a live session stays up; a broken file changes nothing and the log names its line; each
// attempt lands in the audit log with the hashes of the old and new file.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "tests/support/harness.h"

namespace portcullis::e2e {
namespace {

using nlohmann::json;

std::string dev_rule(std::string_view approval) {
  return "\n[[policy]]\n"
         "name = \"dev\"\n"
         "targets = [\"dev*\"]\n"
         "roles = [\"dev\"]\n"
         "max_duration = \"1h\"\n"
         "approval = \"" +
         std::string(approval) +
         "\"\n"
         "approver_roles = [\"approver\"]\n";
}

class ReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_config = read_file(bastion.config_file());
    write_file(bastion.config_file(), base_config + dev_rule("auto"));
    alice = bastion.add_user("alice", {"dev"});
    bastion.add_user("bob", {"approver"});
    for (const char* name : {"dev01", "dev02", "dev03"}) {
      bastion.add_target(name, target);
      bastion.add_key_account(name, target);
    }
    bastion.start();
  }

  json request(const std::string& target_name) {
    const RunResult result =
        run_ssh(alice.private_key, bastion.port(), "alice",
                {"request", target_name, "--for", "10m", "--reason", "reload test", "--json"},
                RunOptions().with_timeout(30s));
    EXPECT_EQ(result.exit_status, 0) << result.err;
    return json::parse(result.out);
  }

  // Sends SIGHUP and waits for the daemon to log the outcome (`marker`), counting from the log
  // as it was before the signal.
  void reload(std::string_view marker) {
    const std::size_t before = bastion.log().size();
    ASSERT_EQ(::kill(bastion.pid(), SIGHUP), 0);
    ASSERT_TRUE(
        wait_until([&] { return bastion.log().find(marker, before) != std::string::npos; }, 15s))
        << bastion.log().substr(before);
  }

  json audit_details(const std::string& action) {
    const std::string rows = PostgresCluster::shared().query(
        bastion.database(),
        "SELECT details FROM audit_events WHERE action = '" + action + "' ORDER BY id");
    EXPECT_FALSE(rows.empty()) << "no " << action << " row";
    return rows.empty() ? json() : json::parse(rows.substr(rows.rfind('\n') + 1));
  }

  TargetSshd target;
  Bastion bastion;
  KeyPair alice;
  std::string base_config;
};

TEST_F(ReloadTest, AChangedRuleGovernsTheNextRequestWhileALiveSessionStaysUp) {
  EXPECT_EQ(request("dev01")["state"], "active");
  PtySession shell(ssh_tty_command(alice.private_key, bastion.port(), "alice:dev01"));
  shell.write("echo before-$((1+1))\n");
  ASSERT_TRUE(shell.expect("before-2")) << shell.transcript();

  const std::string old_sha = sha256_file(bastion.config_file());
  write_file(bastion.config_file(), base_config + dev_rule("single"));
  reload("config reloaded");

  const json pending = request("dev02");
  EXPECT_EQ(pending["state"], "pending");
  EXPECT_EQ(pending["approvals_needed"], 1);

  shell.write("echo after-$((2+2))\n");
  EXPECT_TRUE(shell.expect("after-4")) << shell.transcript();
  shell.write("exit\n");
  EXPECT_EQ(shell.wait_exit(), 0);

  const json details = audit_details("config.reloaded");
  EXPECT_EQ(details["old_sha256"], old_sha);
  EXPECT_EQ(details["new_sha256"], sha256_file(bastion.config_file()));
  EXPECT_EQ(details["file"], bastion.config_file().string());
  EXPECT_TRUE(details["needs_restart"].empty()) << details.dump();
}

TEST_F(ReloadTest, ABrokenFileKeepsTheRunningConfigAndTheLogNamesItsLine) {
  const std::string good_sha = sha256_file(bastion.config_file());
  std::string broken = base_config + dev_rule("single");
  broken.replace(broken.find("approval = \"single\""), 19, "approval = \"sometimes\"");
  write_file(bastion.config_file(), broken);
  // The line of the bad value, as an editor counts it.
  const std::size_t line =
      1 + static_cast<std::size_t>(
              std::count(broken.begin(), broken.begin() + broken.find("\"sometimes\""), '\n'));
  reload("config reload failed");
  EXPECT_NE(bastion.log().find(bastion.config_file().string() + ":" + std::to_string(line) + ":"),
            std::string::npos)
      << bastion.log();

  EXPECT_EQ(request("dev01")["state"], "active") << "the old rule (auto) still applies";
  const json failed = audit_details("config.reload_failed");
  EXPECT_EQ(failed["old_sha256"], good_sha);
  EXPECT_NE(failed["error"].get<std::string>().find(":" + std::to_string(line) + ":"),
            std::string::npos)
      << failed.dump();

  // Fixed, it loads; and what only a restart can change is kept, and said.
  write_file(bastion.config_file(),
             base_config + dev_rule("single") + "\n[rotation]\ncheck_interval = \"20s\"\n");
  reload("config reloaded");
  EXPECT_EQ(request("dev03")["state"], "pending");
  EXPECT_NE(bastion.log().find("[rotation] changed"), std::string::npos) << bastion.log();
  EXPECT_EQ(audit_details("config.reloaded")["needs_restart"], json::array({"[rotation]"}));
}

// The endpoint moves where the file says, and a reload that cannot serve the new address changes
// nothing at all.
TEST_F(ReloadTest, TheMetricsEndpointFollowsTheFile) {
  const auto scrape = [](std::uint16_t port) {
    return run({"curl", "-fsS", "--max-time", "5",
                "http://127.0.0.1:" + std::to_string(port) + "/metrics"});
  };
  const std::uint16_t first = free_port();
  const std::string with_rule = base_config + dev_rule("auto");
  write_file(bastion.config_file(),
             with_rule + "\n[metrics]\nlisten = \"127.0.0.1:" + std::to_string(first) + "\"\n");
  reload("config reloaded");
  const RunResult served = scrape(first);
  ASSERT_EQ(served.exit_status, 0) << served.err;
  EXPECT_NE(served.out.find("portcullis_sessions_active"), std::string::npos);

  // Taken by someone else: the reload fails whole, the rule change with it.
  const std::uint16_t taken = free_port();
  BackgroundProcess squatter({"python3", "-c",
                              "import socket,time;s=socket.socket();s.bind(('127.0.0.1'," +
                                  std::to_string(taken) + "));s.listen();time.sleep(60)"},
                             bastion.dir() / "squatter.log");
  ASSERT_TRUE(wait_for_port(taken, 10s));
  write_file(bastion.config_file(),
             base_config + dev_rule("single") +
                 "\n[metrics]\nlisten = \"127.0.0.1:" + std::to_string(taken) + "\"\n");
  reload("config reload failed");
  EXPECT_EQ(scrape(first).exit_status, 0) << "the endpoint stays where it was";
  EXPECT_EQ(request("dev01")["state"], "active") << "the old rule still applies";

  const std::uint16_t second = free_port();
  write_file(bastion.config_file(),
             with_rule + "\n[metrics]\nlisten = \"127.0.0.1:" + std::to_string(second) + "\"\n");
  reload("config reloaded");
  EXPECT_EQ(scrape(second).exit_status, 0);
  EXPECT_NE(scrape(first).exit_status, 0) << "the old address is closed";
}

// What systemd's Type=notify relies on, seen from a socket of our own in NOTIFY_SOCKET: READY=1
// once listening, RELOADING=1 then READY=1 around a reload, STOPPING=1 on the way out.
class ServiceNotifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(socket_, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::string path = (dir_.path() / "notify").string();
    ASSERT_LT(path.size(), sizeof address.sun_path);
    path.copy(address.sun_path, path.size());
    ASSERT_EQ(::bind(socket_, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
    const timeval timeout{15, 0};
    ::setsockopt(socket_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    // This test's own process: the daemon it starts inherits the variable, nothing else does.
    ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  }
  void TearDown() override {
    ::unsetenv("NOTIFY_SOCKET");
    if (socket_ >= 0) ::close(socket_);
  }

  // The next datagram the daemon sent; "" after 15 s of silence.
  std::string next_message() {
    char buffer[4096];
    const ssize_t n = ::recv(socket_, buffer, sizeof buffer, 0);
    return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
  }

  test::TempDir dir_;
  int socket_ = -1;
};

TEST_F(ServiceNotifyTest, ReadyOnceListeningReloadingAroundAReloadStoppingAtTheEnd) {
  Bastion bastion;
  bastion.start();
  EXPECT_NE(next_message().find("READY=1"), std::string::npos);
  ASSERT_EQ(::kill(bastion.pid(), SIGHUP), 0);
  EXPECT_NE(next_message().find("RELOADING=1"), std::string::npos);
  EXPECT_NE(next_message().find("READY=1"), std::string::npos);
  EXPECT_EQ(bastion.stop(), 0);
  EXPECT_NE(next_message().find("STOPPING=1"), std::string::npos);
}

}  // namespace
}  // namespace portcullis::e2e
