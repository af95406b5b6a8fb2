// [[alert_rule]] end to end: the real ssh client under a pty types at a real shell; a rule's
// pattern matches the command line as the screen shows it at Enter (after line editing) or an
// exec request's command; the alert reaches a real webhook, the match is audited, marked in the
// recording and listed by `session show`; a "terminate" rule ends the session; a rule for other
// targets stays silent.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/harness.h"

namespace portcullis::e2e {
namespace {

using nlohmann::json;

// "wipe" alerts on db* targets; "stop" ends sessions there; "web-only" would match everything
// typed, but watches other targets.
constexpr std::string_view kRules = R"(
[[alert_rule]]
name = "wipe"
targets = ["db*"]
match = "rm -rf /"
severity = "critical"

[[alert_rule]]
name = "stop"
targets = ["db*"]
match = "^echo stop-[0-9]+$"
action = "terminate"

[[alert_rule]]
name = "web-only"
targets = ["web*"]
match = "echo"
)";

class CommandAlertTest : public ::testing::Test {
 protected:
  void SetUp() override {
    user_key = bastion.add_user("alice");
    bastion.add_target("db01", target);
    bastion.add_key_account("db01", target);
    grant_id = bastion.add_grant("alice", "db01", target.account(), "30m", "INC-7 cleanup");
    bastion.append_config(std::string(kRules) + "\n[alerts]\nwebhook = \"" + webhook.url() +
                          "\"\n");
    bastion.start();
  }

  PtySession interactive() {
    return PtySession(ssh_tty_command(user_key.private_key, bastion.port(), "alice:db01"));
  }

  // The command alerts the webhook got so far, oldest first.
  std::vector<json> alerts() const {
    std::vector<json> found;
    for (const WebhookSink::Request& request : webhook.requests()) {
      json alert = json::parse(request.body);
      if (alert["kind"] == "command_alert") found.push_back(std::move(alert));
    }
    return found;
  }

  bool alerts_reach(std::size_t count) {
    return wait_until([&] { return alerts().size() >= count; }, 10s);
  }

  std::string session_id() {
    const json sessions = json::parse(bastion.cli_checked({"session", "list", "--json"}));
    return sessions.empty() ? "0" : std::to_string(sessions.back()["id"].get<long long>());
  }

  TargetSshd target;
  Bastion bastion;
  WebhookSink webhook;
  KeyPair user_key;
  std::string grant_id;
};

TEST_F(CommandAlertTest, ATypedCommandFiresAsTheScreenShowsIt) {
  PtySession session = interactive();
  ASSERT_TRUE(session.expect("ends at", 15s)) << session.transcript();
  // Typed with a mistake corrected by Backspace: the keys hold "rX\x7f", the line does not.
  session.write("echo rm -rX");
  session.write("\x7f");
  session.write("f /\r");
  ASSERT_TRUE(session.expect("\rrm -rf /", 10s)) << session.transcript();
  ASSERT_TRUE(alerts_reach(1)) << bastion.log();
  const json alert = alerts().front();
  const std::string id = session_id();
  EXPECT_EQ(alert["rule"], "wipe");
  EXPECT_EQ(alert["severity"], "critical");
  EXPECT_EQ(alert["action"], "alert");
  EXPECT_EQ(alert["command"], "echo rm -rf /");
  EXPECT_EQ(alert["user"], "alice");
  EXPECT_EQ(alert["target"], "db01");
  EXPECT_EQ(alert["login"], target.account());
  EXPECT_EQ(std::to_string(alert["grant"].get<long long>()), grant_id);
  EXPECT_EQ(alert["reason"], "INC-7 cleanup");
  EXPECT_EQ(std::to_string(alert["session"].get<long long>()), id);
  EXPECT_EQ(alert["play"], "portcullis play " + id + " --at " + alert["offset"].get<std::string>());

  // An "alert" rule lets the session go on; the web* rule never fired.
  session.write("echo still-$((40+2))\r");
  ASSERT_TRUE(session.expect("still-42", 10s)) << session.transcript();
  session.write("exit\r");
  EXPECT_EQ(session.wait_exit(10s), 0);
  EXPECT_EQ(alerts().size(), 1u);

  const json shown = json::parse(bastion.cli_checked({"session", "show", id, "--json"}));
  ASSERT_EQ(shown["command_matches"].size(), 1u) << shown.dump(2);
  EXPECT_EQ(shown["command_matches"][0]["command"], "echo rm -rf /");
  const std::string text = bastion.cli_checked({"session", "show", id});
  EXPECT_NE(text.find("wipe (critical, alert): echo rm -rf /"), std::string::npos) << text;

  // The recording holds the marker, and `play --at` takes the time the alert gives.
  ASSERT_TRUE(wait_until(
      [&] {
        return bastion.cli({"export", id, "--format", "asciicast"}).exit_status == 0;
      },
      20s));
  const std::string cast = bastion.cli_checked({"export", id, "--format", "asciicast"});
  EXPECT_NE(cast.find(R"("m","alert_rule wipe: echo rm -rf /")"), std::string::npos) << cast;
  const RunResult screen = bastion.cli({"screen", id, "--at", alert["offset"].get<std::string>()});
  EXPECT_EQ(screen.exit_status, 0) << screen.err;
}

TEST_F(CommandAlertTest, AnExecCommandLineMatchesToo) {
  const RunResult run =
      run_ssh(user_key.private_key, bastion.port(), "alice:db01", {"echo rm -rf / --dry-run"});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  ASSERT_TRUE(alerts_reach(1)) << bastion.log();
  EXPECT_EQ(alerts().front()["command"], "echo rm -rf / --dry-run");
  EXPECT_EQ(alerts().front()["rule"], "wipe");
}

TEST_F(CommandAlertTest, ATerminateRuleEndsTheSessionNamingTheRule) {
  PtySession session = interactive();
  ASSERT_TRUE(session.expect("ends at", 15s)) << session.transcript();
  session.write("echo stop-1\r");
  ASSERT_TRUE(session.expect("alert rule \"stop\"", 10s)) << session.transcript();
  EXPECT_TRUE(session.wait_exit(10s).has_value());
  ASSERT_TRUE(alerts_reach(1)) << bastion.log();
  EXPECT_EQ(alerts().front()["action"], "terminate");
  const std::string id = session_id();
  ASSERT_TRUE(wait_until(
      [&] {
        const json shown = json::parse(bastion.cli_checked({"session", "show", id, "--json"}));
        return shown["end_reason"] == "killed";
      },
      10s));
}

}  // namespace
}  // namespace portcullis::e2e
