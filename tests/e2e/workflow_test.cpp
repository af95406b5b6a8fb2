// The just-in-time workflow end to end: control commands over a real `ssh`, policy decisions,
// approvals with TOTP typed into a real pty, extension, revocation across two nodes, and the
// hash-chained audit log checked after a superuser tampers with it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <regex>

#include "tests/support/harness.h"

namespace portcullis::e2e {
namespace {

using nlohmann::json;

// Hours that exclude the present moment: a one-hour window starting two hours from now (UTC).
std::string hours_excluding_now() {
  const std::time_t later = std::time(nullptr) + 2 * 3600;
  std::tm tm{};
  gmtime_r(&later, &tm);
  char window[32];
  std::snprintf(window, sizeof window, "daily %02d:00-%02d:59 UTC", tm.tm_hour, tm.tm_hour);
  return window;
}

std::string policy_text(std::string_view approval_timeout = "24h") {
  return "[access]\n"
         "approval_timeout = \"" +
         std::string(approval_timeout) +
         "\"\n"
         "warn_before = [\"6s\"]\n"
         "\n[[policy]]\n"
         "name = \"dev-auto\"\n"
         "targets = [\"dev*\"]\n"
         "roles = [\"dev\"]\n"
         "max_duration = \"1h\"\n"
         "approval = \"auto\"\n"
         "\n[[policy]]\n"
         "name = \"prod-db\"\n"
         "targets = [\"db*\", \"pay-*\"]\n"
         "roles = [\"dev\"]\n"
         "max_duration = \"2h\"\n"
         "require_ticket = true\n"
         "ticket_pattern = \"^(CHG|INC)-[0-9]+$\"\n"
         "approval = \"dual\"\n"
         "approver_roles = [\"approver\"]\n"
         "break_glass = true\n"
         "break_glass_max = \"1h\"\n"
         "\n[[policy]]\n"
         "name = \"web-single\"\n"
         "targets = [\"web*\"]\n"
         "roles = [\"dev\"]\n"
         "approval = \"single\"\n"
         "approver_roles = [\"approver\"]\n"
         "mfa = [\"approve\"]\n"
         "\n[[policy]]\n"
         "name = \"night-only\"\n"
         "targets = [\"night*\"]\n"
         "roles = [\"dev\"]\n"
         "hours = \"" +
         hours_excluding_now() +
         "\"\n"
         "approval = \"auto\"\n";
}

// One target sshd reachable under several target names, so each rule has a target to match.
class WorkflowTest : public ::testing::Test {
 protected:
  void SetUp() override { set_up(policy_text()); }

  void set_up(const std::string& policy) {
    bastion.append_config(policy);
    alice = bastion.add_user("alice", {"dev"});
    bob = bastion.add_user("bob", {"approver"});
    carol = bastion.add_user("carol", {"approver"});
    for (const char* name : {"dev01", "db01", "web01", "night01"}) {
      bastion.add_target(name, target);
      bastion.add_key_account(name, target);
    }
    bastion.start();
  }

  RunResult control(const KeyPair& key, const std::string& user,
                    const std::vector<std::string>& command) {
    return run_ssh(key.private_key, bastion.port(), user, command, RunOptions().with_timeout(30s));
  }

  json control_json(const KeyPair& key, const std::string& user, std::vector<std::string> command) {
    command.push_back("--json");
    const RunResult result = control(key, user, command);
    EXPECT_EQ(result.exit_status, 0) << result.err;
    return json::parse(result.out);
  }

  // Enrolls `user` for TOTP and returns the base32 secret printed once by the CLI.
  std::string enroll_totp(const std::string& user) {
    const RunResult result = bastion.cli({"user", "totp", user});
    EXPECT_EQ(result.exit_status, 0) << result.err;
    std::smatch match;
    const std::string uri = result.out;
    EXPECT_TRUE(std::regex_search(uri, match, std::regex("secret=([A-Z2-7]+)"))) << uri;
    return match[1];
  }

  // The current code, from oathtool: an implementation independent of the bastion's.
  static std::string totp_code(const std::string& secret, std::time_t at = std::time(nullptr)) {
    return run_checked({"oathtool", "--totp", "-b", "-N", "@" + std::to_string(at), secret})
        .substr(0, 6);
  }

  // Runs a control command that asks for a TOTP code first, answering it through a pty.
  std::string with_totp(const KeyPair& key, const std::string& user, const std::string& code,
                        const std::vector<std::string>& command) {
    PtySession session(ssh_mfa_command(key.private_key, bastion.port(), user, command));
    if (!session.expect("TOTP code: ", 20s)) return "no TOTP prompt: " + session.transcript();
    session.write(code + "\n");
    session.wait_exit(20s);
    return session.transcript();
  }

  // An auto-approved grant of alice's, returned as `request --json` prints it.
  json alice_grant(const std::string& target, const std::string& duration) {
    return control_json(alice, "alice",
                        {"request", target, "--for", duration, "--reason", "e2e work"});
  }

  // A shell of alice's on TARGET that has started and then sleeps for a minute.
  std::unique_ptr<PtySession> long_session(const std::string& target) {
    auto session = std::make_unique<PtySession>(ssh_tty_command(
        alice.private_key, bastion.port(), "alice:" + target, {"echo started; sleep 60"}));
    EXPECT_TRUE(session->expect("started", 15s)) << session->transcript();
    return session;
  }

  TargetSshd target;
  Bastion bastion;
  KeyPair alice, bob, carol;
};

TEST_F(WorkflowTest, AutoApprovedRequestThenConnect) {
  const json request =
      control_json(alice, "alice", {"request", "dev01", "--for", "10m", "--reason", "deploy 4.2"});
  EXPECT_EQ(request["state"], "active");
  EXPECT_EQ(request["approvals_needed"], 0);
  EXPECT_FALSE(request["starts_at"].is_null());
  EXPECT_FALSE(request["expires_at"].is_null());

  const RunResult session =
      run_ssh(alice.private_key, bastion.port(), "alice:dev01", {"echo", "reached", "$USER"});
  EXPECT_EQ(session.exit_status, 0) << session.err;
  EXPECT_EQ(session.out, "reached " + target.account() + "\n");

  const json grants = control_json(alice, "alice", {"grants"});
  ASSERT_EQ(grants.size(), 1u);
  EXPECT_EQ(grants[0]["reason"], "deploy 4.2");
  EXPECT_EQ(grants[0]["state"], "active");
}

TEST_F(WorkflowTest, ArgumentsAreSplitLikeAShellWithoutRunningOne) {
  // The client sends one string; quotes group words, and nothing is expanded or executed.
  const RunResult result = control(
      alice, "alice", {"request dev01 --for 5m --reason 'it'\"'\"'s $(id) `id` ; true' --json"});
  ASSERT_EQ(result.exit_status, 0) << result.err;
  EXPECT_EQ(json::parse(result.out)["reason"], "it's $(id) `id` ; true");

  const RunResult unterminated = control(alice, "alice", {"request dev01 --reason 'oops"});
  EXPECT_EQ(unterminated.exit_status, 2);
  EXPECT_NE(unterminated.err.find("unterminated ' quote"), std::string::npos) << unterminated.err;

  const RunResult unknown = control(alice, "alice", {"frobnicate"});
  EXPECT_EQ(unknown.exit_status, 2);
  EXPECT_EQ(unknown.out, "");
  EXPECT_NE(unknown.err.find("portcullis: "), std::string::npos);

  const RunResult help = control(alice, "alice", {});
  EXPECT_EQ(help.exit_status, 0);
  EXPECT_NE(help.out.find("break-glass TARGET[:LOGIN]"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("Your grants:"), std::string::npos) << help.out;
}

TEST_F(WorkflowTest, DualApprovalNeedsTwoDistinctApproversAndStartsAtTheLastApproval) {
  const json request = control_json(
      alice, "alice",
      {"request", "db01", "--for", "30m", "--reason", "fix index", "--ticket", "CHG-1234"});
  EXPECT_EQ(request["state"], "pending");
  EXPECT_EQ(request["approvals_needed"], 2);
  EXPECT_TRUE(request["starts_at"].is_null());
  const std::string id = std::to_string(request["id"].get<long long>());

  const RunResult self = control(alice, "alice", {"approve", id});
  EXPECT_EQ(self.exit_status, 1);
  EXPECT_NE(self.err.find("their own request"), std::string::npos) << self.err;

  const RunResult not_yet = run_ssh(alice.private_key, bastion.port(), "alice:db01", {"true"});
  EXPECT_EQ(not_yet.exit_status, 255);
  EXPECT_NE(not_yet.err.find("waiting for 2 more approval"), std::string::npos) << not_yet.err;

  const json listed = control_json(bob, "bob", {"requests"});
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["id"], request["id"]);

  const json first = control_json(bob, "bob", {"approve", id, "--comment", "looks fine"});
  EXPECT_EQ(first["state"], "pending");
  EXPECT_EQ(first["approvals_given"], 1);
  const RunResult twice = control(bob, "bob", {"approve", id});
  EXPECT_EQ(twice.exit_status, 1);
  EXPECT_NE(twice.err.find("different approver"), std::string::npos) << twice.err;

  // RFC 3339 times have whole seconds: wait so "starts at approval" is visible.
  std::this_thread::sleep_for(1100ms);
  const json second = control_json(carol, "carol", {"approve", id});
  EXPECT_EQ(second["state"], "active");
  EXPECT_GT(second["starts_at"].get<std::string>(), second["requested_at"].get<std::string>());

  const RunResult session = run_ssh(alice.private_key, bastion.port(), "alice:db01", {"true"});
  EXPECT_EQ(session.exit_status, 0) << session.err;
}

TEST_F(WorkflowTest, TicketPatternAndMaximumDurationAreEnforced) {
  const std::vector<std::string> base{"request", "db01", "--reason", "r", "--for"};
  auto request = [&](std::vector<std::string> extra) {
    std::vector<std::string> command = base;
    command.insert(command.end(), extra.begin(), extra.end());
    return control(alice, "alice", command);
  };
  const RunResult missing = request({"30m"});
  EXPECT_EQ(missing.exit_status, 1);
  EXPECT_NE(missing.err.find("requires a ticket"), std::string::npos) << missing.err;
  const RunResult wrong = request({"30m", "--ticket", "JIRA-1"});
  EXPECT_EQ(wrong.exit_status, 1);
  EXPECT_NE(wrong.err.find("does not match ^(CHG|INC)-[0-9]+$"), std::string::npos) << wrong.err;
  const RunResult too_long = request({"3h", "--ticket", "INC-7"});
  EXPECT_EQ(too_long.exit_status, 1);
  EXPECT_NE(too_long.err.find("at most 2h"), std::string::npos) << too_long.err;
  EXPECT_EQ(request({"30m", "--ticket", "INC-7"}).exit_status, 0);

  const RunResult no_rule =
      control(bob, "bob", {"request", "dev01", "--for", "5m", "--reason", "x"});
  EXPECT_EQ(no_rule.exit_status, 1);
  EXPECT_NE(no_rule.err.find("no policy rule lets bob"), std::string::npos) << no_rule.err;
}

// std::regex overflowed the stack on a ticket of ~50,000 characters and took the daemon down;
// now the length is checked before any pattern, and the daemon answers the next request.
TEST_F(WorkflowTest, HugeTicketsAndCommandLinesAreRefusedAndTheDaemonStaysUp) {
  const std::string ticket = "INC-" + std::string(50'000, '7');
  const RunResult huge = control(
      alice, "alice", {"request", "db01", "--for", "30m", "--reason", "r", "--ticket", ticket});
  EXPECT_EQ(huge.exit_status, 1) << huge.err;
  EXPECT_NE(huge.err.find("--ticket is longer than 128 characters"), std::string::npos)
      << huge.err.substr(0, 300);

  // Over the 64 KiB limit of an exec request: refused before it is parsed at all.
  const std::string chunk(40'000, 'x');
  const RunResult too_big =
      control(alice, "alice", {"request", "db01", "--reason", chunk, chunk, chunk});
  EXPECT_EQ(too_big.exit_status, 255) << too_big.err.substr(0, 300);
  EXPECT_NE(too_big.err.find("portcullis: request refused: the command line is longer than "
                             "65536 bytes"),
            std::string::npos)
      << too_big.err.substr(0, 300);

  EXPECT_EQ(control(alice, "alice",
                    {"request", "db01", "--for", "30m", "--reason", "r", "--ticket", "INC-7"})
                .exit_status,
            0);
}

// A requester's reason holding terminal escapes (clear screen, an OSC 52 clipboard write, a C1
// CSI) reaches the approver, the CLI and the audit log as visible text; JSON keeps it exact.
TEST_F(WorkflowTest, RequesterTextCannotRedrawTheApproversScreen) {
  const std::string reason =
      "\x1b[2J\x1b[H stg-web01 \x1b]52;c;ZXZpbA==\x07 \xc2\x9b"
      "31m end";
  const RunResult request =
      control(alice, "alice", {"request db01 --for 30m --ticket INC-9 --reason '" + reason + "'"});
  ASSERT_EQ(request.exit_status, 0) << request.err;

  auto expect_inert = [](const std::string& shown, const std::string& where) {
    EXPECT_EQ(shown.find('\x1b'), std::string::npos) << where << ": " << shown;
    EXPECT_EQ(shown.find('\x07'), std::string::npos) << where << ": " << shown;
    EXPECT_EQ(shown.find("\xc2\x9b"), std::string::npos) << where << ": " << shown;
    EXPECT_NE(shown.find("\\x1b[2J\\x1b[H stg-web01 \\x1b]52;c;ZXZpbA==\\x07 \\u009b31m end"),
              std::string::npos)
        << where << ": " << shown;
  };
  const RunResult requests = control(bob, "bob", {"requests"});
  ASSERT_EQ(requests.exit_status, 0) << requests.err;
  expect_inert(requests.out, "ssh bob@bastion requests");
  expect_inert(control(alice, "alice", {"grants"}).out, "ssh alice@bastion grants");
  expect_inert(bastion.cli({"grant", "list"}).out, "portcullis grant list");

  const RunResult as_json = control(bob, "bob", {"requests", "--json"});
  EXPECT_EQ(as_json.out.find('\x1b'), std::string::npos) << as_json.out;
  EXPECT_EQ(json::parse(as_json.out)[0]["reason"], reason);
  const RunResult cli_json = bastion.cli({"grant", "list", "--json"});
  EXPECT_EQ(cli_json.out.find('\x1b'), std::string::npos) << cli_json.out;
  EXPECT_EQ(json::parse(cli_json.out)[0]["reason"], reason);

  const RunResult audit = bastion.cli({"audit", "list"});
  EXPECT_EQ(audit.out.find('\x1b'), std::string::npos) << audit.out;
}

TEST_F(WorkflowTest, OutsideAllowedHoursIsRefused) {
  const RunResult result =
      control(alice, "alice", {"request", "night01", "--for", "5m", "--reason", "batch"});
  EXPECT_EQ(result.exit_status, 1);
  EXPECT_NE(result.err.find("allows access only daily"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("it is now"), std::string::npos) << result.err;
}

TEST_F(WorkflowTest, SingleApprovalByAnotherUserWithMfa) {
  const std::string secret = enroll_totp("bob");
  const json request =
      control_json(alice, "alice", {"request", "web01", "--for", "15m", "--reason", "hotfix"});
  ASSERT_EQ(request["state"], "pending");
  const std::string id = std::to_string(request["id"].get<long long>());

  // carol holds the approver role but has no TOTP, and the rule asks for MFA to approve.
  const RunResult carol_tries = control(carol, "carol", {"approve", id});
  EXPECT_EQ(carol_tries.exit_status, 1);
  EXPECT_NE(carol_tries.err.find("requires MFA to approve"), std::string::npos) << carol_tries.err;

  const std::string transcript = with_totp(bob, "bob", totp_code(secret), {"approve", id});
  EXPECT_NE(transcript.find(": active until"), std::string::npos) << transcript;

  const RunResult session = run_ssh(alice.private_key, bastion.port(), "alice:web01", {"true"});
  EXPECT_EQ(session.exit_status, 0) << session.err;
}

TEST_F(WorkflowTest, TotpWrongCodeReplayAndLockout) {
  const std::string secret = enroll_totp("bob");
  const std::time_t now = std::time(nullptr);
  const std::string good = totp_code(secret, now);
  const std::string wrong = good == "000000" ? "111111" : "000000";

  EXPECT_NE(with_totp(bob, "bob", wrong, {"whoami"}).find("Permission denied"), std::string::npos);
  const std::string accepted = with_totp(bob, "bob", good, {"whoami"});
  EXPECT_NE(accepted.find("verified on this connection"), std::string::npos) << accepted;
  // The same code again, within its window: refused.
  EXPECT_NE(with_totp(bob, "bob", good, {"whoami"}).find("Permission denied"), std::string::npos);

  for (int i = 0; i < 3; ++i) with_totp(bob, "bob", wrong, {"whoami"});
  // Five failures within five minutes (wrong, replayed, three more wrong) lock MFA: even the
  // next step's fresh, never-used code (accepted as clock skew otherwise) is refused now.
  const std::string next = totp_code(secret, now + 30);
  EXPECT_NE(with_totp(bob, "bob", next, {"whoami"}).find("Permission denied"), std::string::npos);

  const std::string failures = PostgresCluster::shared().query(
      bastion.database(), "SELECT count(*) FROM audit_events WHERE action = 'mfa.failure'");
  EXPECT_GE(std::stoi(failures), 6);
  EXPECT_NE(bastion.log().find("kind=mfa_lockout raised"), std::string::npos);
}

TEST_F(WorkflowTest, ExtendKeepsALiveSessionPastTheOldEnd) {
  const json grant =
      control_json(alice, "alice", {"request", "dev01", "--for", "9s", "--reason", "short"});
  const std::string id = std::to_string(grant["id"].get<long long>());
  PtySession session(ssh_tty_command(alice.private_key, bastion.port(), "alice:dev01",
                                     {"sleep 13; echo survived-the-old-end"}));
  ASSERT_TRUE(session.expect("ends at", 15s)) << session.transcript();
  ASSERT_TRUE(session.expect("ends in 6s", 10s)) << session.transcript();
  const json extended =
      control_json(alice, "alice", {"extend", id, "--for", "30s", "--reason", "more time"});
  EXPECT_EQ(extended["state"], "active");
  EXPECT_EQ(extended["extends"], grant["id"]);
  EXPECT_TRUE(session.expect("was extended; it now ends at", 5s)) << session.transcript();
  EXPECT_TRUE(session.expect("survived-the-old-end", 15s)) << session.transcript();
  EXPECT_EQ(session.wait_exit(10s), 0);
}

TEST_F(WorkflowTest, RevokeOnNodeBEndsTheSessionOnNodeAWithinASecond) {
  Bastion node_b(bastion, "node-b");
  node_b.append_config(policy_text());
  node_b.start();
  const json grant =
      control_json(alice, "alice", {"request", "dev01", "--for", "10m", "--reason", "long job"});
  const std::string id = std::to_string(grant["id"].get<long long>());
  const auto live = long_session("dev01");
  PtySession& session = *live;

  const RunResult revoke =
      run_ssh(alice.private_key, node_b.port(), "alice", {"revoke", id, "--reason", "done early"});
  ASSERT_EQ(revoke.exit_status, 0) << revoke.err;
  const auto revoked = std::chrono::steady_clock::now();
  ASSERT_TRUE(session.expect("revoked at .*done early", 5s)) << session.transcript();
  const auto noticed = std::chrono::steady_clock::now() - revoked;
  EXPECT_LT(noticed, 1s) << "node A ended the session "
                         << std::chrono::duration_cast<std::chrono::milliseconds>(noticed).count()
                         << " ms after node B revoked it";
  session.wait_exit(10s);
}

TEST_F(WorkflowTest, BreakGlassIsActiveAtOnceAndFlaggedForReview) {
  const json grant = control_json(
      alice, "alice", {"break-glass", "db01", "--for", "20m", "--reason", "prod is down"});
  EXPECT_EQ(grant["state"], "active");
  EXPECT_EQ(grant["break_glass"], true);
  EXPECT_NE(bastion.log().find("kind=break_glass raised"), std::string::npos) << bastion.log();
  const RunResult too_long =
      control(alice, "alice", {"break-glass", "db01", "--for", "2h", "--reason", "prod is down"});
  EXPECT_NE(too_long.err.find("at most 1h"), std::string::npos) << too_long.err;

  const json queue = json::parse(bastion.cli_checked({"review", "list", "--json"}));
  ASSERT_EQ(queue.size(), 1u);
  const std::string id = std::to_string(grant["id"].get<long long>());
  bastion.cli_checked({"review", "ack", id, "--note", "outage INC-9, justified"});
  EXPECT_EQ(json::parse(bastion.cli_checked({"review", "list", "--json"})).size(), 0u);
  EXPECT_EQ(bastion.cli({"review", "ack", id, "--note", "again"}).exit_status, 1);
}

TEST_F(WorkflowTest, PolicyCheckAndExplain) {
  const RunResult ok = bastion.cli({"policy", "check"});
  EXPECT_EQ(ok.exit_status, 0) << ok.err;
  EXPECT_NE(ok.out.find("policy OK, 4 rules"), std::string::npos) << ok.out;

  const fs::path broken = bastion.dir() / "broken.toml";
  write_file(broken, read_file(bastion.config_file()) +
                         "\n[[policy]]\nname = \"late\"\ntargets = [\"x*\"]\n"
                         "approval = \"auto\"\nhours = \"Mon-Fri 08:00-18:00 Mars/Olympus\"\n");
  const RunResult bad = bastion.cli({"policy", "check", broken.string()});
  EXPECT_EQ(bad.exit_status, 2);
  const std::string text = read_file(broken);
  const auto hours_line = std::count(text.begin(), text.end(), '\n');  // the last line
  EXPECT_NE(bad.err.find(broken.string() + ":" + std::to_string(hours_line) + ": 'hours'"),
            std::string::npos)
      << bad.err;

  const RunResult explained = bastion.cli({"policy", "explain", "alice", "db01"});
  EXPECT_EQ(explained.exit_status, 0) << explained.err;
  EXPECT_NE(explained.out.find("dev-auto (line"), std::string::npos) << explained.out;
  EXPECT_NE(explained.out.find("skipped: targets dev* do not match db01"), std::string::npos)
      << explained.out;
  EXPECT_NE(explained.out.find("prod-db (line"), std::string::npos) << explained.out;
  EXPECT_NE(explained.out.find("result: rule prod-db: dual approval by approver"),
            std::string::npos)
      << explained.out;
}

// Alerts leave through a real HTTP webhook and a real /bin/sh command.
class AlertingTest : public WorkflowTest {
 protected:
  void SetUp() override {
    set_up(policy_text() + "\n[alerts]\nwebhook = \"" + webhook.url() + "\"\ncommand = \"cat > " +
           (alert_dir / "alert.json").string() + "\"\n");
  }
  WebhookSink webhook;
  TempDir alert_dir;
};

TEST_F(AlertingTest, BreakGlassAlertReachesTheWebhookAndTheCommand) {
  const json grant = control_json(
      alice, "alice", {"break-glass", "db01", "--for", "20m", "--reason", "prod is down"});
  ASSERT_TRUE(wait_until([&] { return !webhook.requests().empty(); }, 10s)) << bastion.log();
  const WebhookSink::Request request = webhook.requests().front();
  EXPECT_EQ(request.request_line, "POST /hook HTTP/1.1");
  EXPECT_NE(request.headers.find("content-type: application/json"), std::string::npos);
  const json alert = json::parse(request.body);
  EXPECT_EQ(alert["kind"], "break_glass");
  EXPECT_EQ(alert["grant"], grant["id"]);
  EXPECT_EQ(alert["user"], "alice");
  EXPECT_EQ(alert["target"], "db01");
  EXPECT_EQ(alert["reason"], "prod is down");

  const fs::path hook_output = alert_dir / "alert.json";
  ASSERT_TRUE(
      wait_until([&] { return fs::exists(hook_output) && !read_file(hook_output).empty(); }, 10s));
  const json from_command = json::parse(read_file(hook_output));
  EXPECT_EQ(from_command["kind"], "break_glass");
  EXPECT_EQ(from_command["id"], alert["id"]);
}

class ShortApprovalTimeout : public WorkflowTest {
 protected:
  void SetUp() override { set_up(policy_text("2s")); }
};

TEST_F(ShortApprovalTimeout, PendingRequestTimesOut) {
  const json request = control_json(
      alice, "alice", {"request", "web01", "--for", "5m", "--reason", "nobody will answer"});
  const std::string id = std::to_string(request["id"].get<long long>());
  std::this_thread::sleep_for(2500ms);
  const json grants = control_json(alice, "alice", {"grants"});
  EXPECT_EQ(grants[0]["state"], "expired");
  EXPECT_EQ(control_json(bob, "bob", {"requests"}).size(), 0u);
  const bool audited = wait_until(
      [&] {
        return PostgresCluster::shared().query(
                   bastion.database(),
                   "SELECT count(*) FROM audit_events WHERE action = 'request.timed_out'") == "1";
      },
      10s);
  EXPECT_TRUE(audited);
}

TEST_F(WorkflowTest, AuditVerifyNamesARowASuperuserUpdated) {
  control_json(alice, "alice", {"request", "dev01", "--for", "5m", "--reason", "audit me"});
  const RunResult intact = bastion.cli({"audit", "verify"});
  EXPECT_EQ(intact.exit_status, 0) << intact.out << intact.err;
  EXPECT_NE(intact.out.find("audit log intact"), std::string::npos);

  const std::string row = PostgresCluster::shared().query(
      bastion.database(), "SELECT min(id) FROM audit_events WHERE action = 'request.created'");
  PostgresCluster::shared().query(
      bastion.database(),
      "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only;"
      "UPDATE audit_events SET details = '{\"reason\": \"nothing to see\"}' WHERE id = " +
          row +
          ";"
          "ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only;");
  const RunResult broken = bastion.cli({"audit", "verify"});
  EXPECT_EQ(broken.exit_status, 4);
  EXPECT_NE(broken.out.find("row " + row + " was altered"), std::string::npos) << broken.out;

  const json events =
      json::parse(bastion.cli_checked({"audit", "list", "--user", "alice", "--json"}));
  EXPECT_FALSE(events.empty());
}

TEST_F(WorkflowTest, AuditRowsCannotBeChangedByTheApplicationRole) {
  control_json(alice, "alice", {"grants"});
  PostgresCluster& cluster = PostgresCluster::shared();
  cluster.query(bastion.database(), read_file(source_dir() / "config/database-roles.sql"));
  auto as_app = [&](const std::string& sql) {
    return run({"psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", cluster.url(bastion.database()), "-c",
                "SET ROLE portcullis_app; " + sql});
  };
  EXPECT_EQ(as_app("SELECT count(*) FROM audit_events").exit_status, 0);
  const RunResult update = as_app("UPDATE audit_events SET actor = 'x'");
  EXPECT_NE(update.exit_status, 0);
  EXPECT_NE(update.err.find("permission denied for table audit_events"), std::string::npos)
      << update.err;
  EXPECT_NE(as_app("DELETE FROM audit_events").exit_status, 0);
  EXPECT_NE(as_app("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only").exit_status,
            0);
}

// ---------------------------------------------------------------------------------------------
// Correctness gaps found in review (issue 14, item 4)

// Milliseconds from `from` until the pty session printed `pattern` (or -1 when it did not
// within `timeout`).
long long ms_until(PtySession& session, const std::string& pattern,
                   std::chrono::steady_clock::time_point from, std::chrono::milliseconds timeout) {
  if (!session.expect(pattern, timeout)) return -1;
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               from)
      .count();
}

TEST_F(WorkflowTest, RevokingAnExtensionTakesItsTimeBack) {
  const json grant = alice_grant("dev01", "8s");
  const std::string id = std::to_string(grant["id"].get<long long>());
  const auto live = long_session("dev01");
  PtySession& session = *live;
  const json extension =
      control_json(alice, "alice", {"extend", id, "--for", "10m", "--reason", "more time"});
  ASSERT_TRUE(session.expect("was extended; it now ends at", 5s)) << session.transcript();
  // Past the grant's own end, the session lives on the extension's time...
  const auto original_end = from_epoch(PostgresCluster::shared().query(
      bastion.database(),
      "SELECT extract(epoch FROM starts_at + duration) FROM grants WHERE id = " + id));
  std::this_thread::sleep_until(original_end + 1s);
  // ...until the extension is revoked: then it ends at once, with the revocation notice.
  const RunResult revoke = control(
      alice, "alice",
      {"revoke", std::to_string(extension["id"].get<long long>()), "--reason", "not needed"});
  ASSERT_EQ(revoke.exit_status, 0) << revoke.err;
  const auto revoked = std::chrono::steady_clock::now();
  const long long ended = ms_until(session, "lost its extension, which was revoked", revoked, 5s);
  ASSERT_GE(ended, 0) << session.transcript();
  EXPECT_LT(ended, 1000) << session.transcript();
  session.wait_exit(10s);
  const json grants = control_json(alice, "alice", {"grants"});
  const auto mine = std::find_if(grants.begin(), grants.end(),
                                 [&](const json& g) { return g["id"] == grant["id"]; });
  ASSERT_NE(mine, grants.end());
  EXPECT_EQ((*mine)["state"], "expired") << mine->dump();
  const std::string ends_where_it_would_have = PostgresCluster::shared().query(
      bastion.database(), "SELECT expires_at = starts_at + duration FROM grants WHERE id = " + id);
  EXPECT_EQ(ends_where_it_would_have, "t");
}

TEST_F(WorkflowTest, AGrantWhoseRuleVanishedIsGovernedByTheRuleNowMatchingOrRefused) {
  alice_grant("dev01", "30m");
  ASSERT_EQ(run_ssh(alice.private_key, bastion.port(), "alice:dev01", {"true"}).exit_status, 0);
  const std::string config = read_file(bastion.config_file());
  auto restart_with = [&](const std::string& text) {
    ASSERT_EQ(bastion.stop(), 0);
    write_file(bastion.config_file(), text);
    bastion.start();
  };
  auto replaced = [&](std::string text, const std::string& from, const std::string& to) {
    text.replace(text.find(from), from.size(), to);
    return text;
  };

  // Renamed, and now only at night: the rule that matches governs the grant.
  restart_with(replaced(replaced(config, "name = \"dev-auto\"", "name = \"dev-renamed\""),
                        "targets = [\"dev*\"]\nroles = [\"dev\"]\nmax_duration = \"1h\"\n",
                        "targets = [\"dev*\"]\nroles = [\"dev\"]\nmax_duration = \"1h\"\n"
                        "hours = \"" +
                            hours_excluding_now() + "\"\n"));
  const RunResult renamed = run_ssh(alice.private_key, bastion.port(), "alice:dev01", {"true"});
  EXPECT_NE(renamed.exit_status, 0);
  EXPECT_NE(renamed.err.find("rule dev-renamed allows access only"), std::string::npos)
      << renamed.err;

  // Removed, and no rule covers dev01: refused, naming the grant and the missing rule.
  restart_with(replaced(replaced(config, "name = \"dev-auto\"", "name = \"gone\""),
                        "targets = [\"dev*\"]", "targets = [\"nothing-here*\"]"));
  const RunResult removed = run_ssh(alice.private_key, bastion.port(), "alice:dev01", {"true"});
  EXPECT_NE(removed.exit_status, 0);
  EXPECT_NE(removed.err.find("was approved under rule dev-auto, which is no longer in the policy"),
            std::string::npos)
      << removed.err;
}

TEST_F(WorkflowTest, DisablingAUserEndsTheirSessionsDeniesTheirRequestsAndRefusesLogins) {
  alice_grant("dev01", "30m");
  const json pending = alice_grant("web01", "15m");
  ASSERT_EQ(pending["state"], "pending");
  const auto live = long_session("dev01");
  PtySession& session = *live;

  const RunResult disabled = bastion.cli({"user", "disable", "alice", "--reason", "laptop stolen"});
  ASSERT_EQ(disabled.exit_status, 0) << disabled.err;
  const auto at = std::chrono::steady_clock::now();
  EXPECT_NE(disabled.out.find("revoked 1 active grant(s)"), std::string::npos) << disabled.out;
  EXPECT_NE(disabled.out.find("denied 1 pending request(s)"), std::string::npos) << disabled.out;
  const long long ended = ms_until(session, "user alice was disabled", at, 5s);
  ASSERT_GE(ended, 0) << session.transcript();
  EXPECT_LT(ended, 1000);
  EXPECT_EQ(session.transcript().find("laptop stolen"), std::string::npos)
      << "the reason is for the audit log, not the user's screen";
  session.wait_exit(10s);

  const RunResult refused = run_ssh(alice.private_key, bastion.port(), "alice", {"grants"});
  EXPECT_NE(refused.exit_status, 0);
  const json grants = json::parse(bastion.cli_checked({"grant", "list", "--json"}));
  for (const json& g : grants) {
    if (g["user"] == "alice") {
      EXPECT_TRUE(g["state"] == "revoked" || g["state"] == "denied") << g;
    }
  }
  EXPECT_EQ(PostgresCluster::shared().query(
                bastion.database(),
                "SELECT details->>'reason' FROM audit_events WHERE action = 'user.disable'"),
            "laptop stolen");

  // Enabled again: logs in, needs new grants.
  ASSERT_EQ(bastion.cli({"user", "enable", "alice"}).exit_status, 0);
  alice_grant("dev01", "5m");
  EXPECT_EQ(run_ssh(alice.private_key, bastion.port(), "alice:dev01", {"true"}).exit_status, 0);
}

TEST_F(WorkflowTest, UserKeysAreAddedAndRemovedButNeverTheLastOne) {
  const KeyPair laptop = generate_key(bastion.dir() / "alice-laptop");
  ASSERT_EQ(bastion.cli({"user", "key", "add", "alice", laptop.public_key().string()}).exit_status,
            0);
  EXPECT_EQ(run_ssh(laptop.private_key, bastion.port(), "alice", {"grants"}).exit_status, 0);
  const RunResult again =
      bastion.cli({"user", "key", "add", "alice", laptop.public_key().string()});
  EXPECT_EQ(again.exit_status, 1);
  EXPECT_NE(again.err.find("already has key"), std::string::npos) << again.err;

  ASSERT_EQ(
      bastion.cli({"user", "key", "remove", "alice", alice.public_key().string()}).exit_status, 0);
  EXPECT_NE(run_ssh(alice.private_key, bastion.port(), "alice", {"grants"}).exit_status, 0);
  const RunResult last =
      bastion.cli({"user", "key", "remove", "alice", laptop.public_key().string()});
  EXPECT_EQ(last.exit_status, 1);
  EXPECT_NE(last.err.find("is the last key of alice"), std::string::npos) << last.err;
  EXPECT_EQ(PostgresCluster::shared().query(
                bastion.database(),
                "SELECT count(*) FROM audit_events WHERE action IN ('user.key_add', "
                "'user.key_remove')"),
            "2");
}

TEST_F(WorkflowTest, ATotpLockoutIsNotProlongedByGuessesAndAnAdministratorCanClearIt) {
  const std::string secret = enroll_totp("bob");
  const std::string good = totp_code(secret);
  const std::string wrong = good == "000000" ? "111111" : "000000";
  for (int i = 0; i < 5; ++i) with_totp(bob, "bob", wrong, {"whoami"});
  auto failures = [&] {
    return PostgresCluster::shared().query(
        bastion.database(),
        "SELECT count(*) FROM mfa_failures f JOIN users u ON u.id = f.user_id WHERE u.name = "
        "'bob'");
  };
  ASSERT_EQ(failures(), "5");
  // Locked: guesses are refused and do not count (the lockout cannot be kept alive by someone
  // holding only the key), even the right code.
  with_totp(bob, "bob", wrong, {"whoami"});
  EXPECT_NE(with_totp(bob, "bob", good, {"whoami"}).find("Permission denied"), std::string::npos);
  EXPECT_EQ(failures(), "5");
  EXPECT_EQ(PostgresCluster::shared().query(
                bastion.database(),
                "SELECT count(*) FROM audit_events WHERE action = 'mfa.failure' AND "
                "details->>'reason' = 'locked' AND details->>'locked_until' <> ''"),
            "2");

  const RunResult reset = bastion.cli({"user", "mfa-reset", "bob"});
  ASSERT_EQ(reset.exit_status, 0) << reset.err;
  EXPECT_NE(reset.out.find("cleared 5 recent TOTP failure(s)"), std::string::npos) << reset.out;
  const std::string accepted =
      with_totp(bob, "bob", totp_code(secret, std::time(nullptr) + 30), {"whoami"});
  EXPECT_NE(accepted.find("verified on this connection"), std::string::npos) << accepted;
  EXPECT_EQ(
      PostgresCluster::shared().query(
          bastion.database(), "SELECT count(*) FROM audit_events WHERE action = 'user.mfa_reset'"),
      "1");
}

// Found in review: a client made the bastion look up a second name just before its own key,
// which needs a TOTP code next, was accepted; the late lookup replaced the accepted identity,
// and after the code the connection ran as the other user. The accepted identity must stay.
// The workflow's bastion, also offering a cipher paramiko 2.12 (Debian bookworm) knows: it has
// neither ChaCha20-Poly1305 nor AES-GCM.
class WorkflowWithParamiko : public WorkflowTest {
 protected:
  void SetUp() override {
    bastion.add_server_config(
        "ciphers = \"aes128-gcm@openssh.com,aes128-ctr\"\nmacs = \"hmac-sha2-256\"");
    set_up(policy_text());
  }
};

TEST_F(WorkflowWithParamiko, ALookupEndingAfterTheKeyWasAcceptedDoesNotChangeWhoIsLoggedIn) {
  // bob approves under a rule that asks for MFA, so his logins need a code; alice's do not. The
  // lookup of alice ends after bob's key was accepted in about half the tries (it races the
  // loop), so four tries: each enrolls bob afresh, because a code is accepted only once.
  for (int attempt = 1; attempt <= 4; ++attempt) {
    const std::string secret = enroll_totp("bob");
    const RunResult result =
        run({"/usr/bin/python3", (source_dir() / "tests" / "e2e" / "identity_swap.py").string(),
             "--port", std::to_string(bastion.port()), "--key", bob.private_key.string(), "--user",
             "bob", "--other", "alice", "--code", totp_code(secret)},
            RunOptions().with_timeout(60s));
    ASSERT_EQ(result.exit_status, 0) << "attempt " << attempt << ": " << result.err;
    const json whoami = json::parse(result.out);
    EXPECT_EQ(whoami["user"], "bob") << "attempt " << attempt << ": " << result.out;
    EXPECT_EQ(whoami["mfa_verified"], true) << "attempt " << attempt << ": " << result.out;
  }
}

// A rule whose allowed hours end at the next minute boundary, 10 to 20 s from now.
class HoursEndingSoon : public WorkflowTest {
 protected:
  void SetUp() override {
    std::time_t now = std::time(nullptr);
    while (now % 60 < 40 || now % 60 >= 50) {
      std::this_thread::sleep_for(500ms);
      now = std::time(nullptr);
    }
    std::tm tm{};
    gmtime_r(&now, &tm);
    const int end = tm.tm_hour * 60 + tm.tm_min + 1;
    char window[40];
    std::snprintf(window, sizeof window, "daily %02d:%02d-%02d:%02d UTC", tm.tm_hour, tm.tm_min,
                  end / 60, end % 60);
    hours_end = std::chrono::system_clock::from_time_t(now - now % 60 + 60);
    set_up(policy_text() +
           "\n[[policy]]\nname = \"soon\"\ntargets = [\"soon*\"]\nroles = "
           "[\"dev\"]\napproval = \"auto\"\nhours = \"" +
           window + "\"\n");
    bastion.add_target("soon01", target);
    bastion.add_key_account("soon01", target);
  }
  std::chrono::system_clock::time_point hours_end;
};

TEST_F(HoursEndingSoon, ASessionEndsWhenTheAllowedHoursEnd) {
  alice_grant("soon01", "30m");
  const auto live = long_session("soon01");
  PtySession& session = *live;
  EXPECT_TRUE(session.expect("allowed hours of grant [0-9]+ \\(daily .*end in 6s", 25s))
      << session.transcript();
  ASSERT_TRUE(session.expect("allowed hours of grant [0-9]+ \\(daily .*ended at", 15s))
      << session.transcript();
  const auto late = std::chrono::system_clock::now() - hours_end;
  EXPECT_LT(late, 1s) << std::chrono::duration_cast<std::chrono::milliseconds>(late).count();
  EXPECT_GT(late, -100ms);
  session.wait_exit(10s);
}

// Grants end by the database's clock: a node whose clock is minutes off still ends a session
// within a second of the grant's end (libfaketime moves portcullisd's wall clock only).
class SkewedNodeClock : public WorkflowTest, public ::testing::WithParamInterface<const char*> {
 protected:
  void SetUp() override {
    bastion.append_config(policy_text());
    alice = bastion.add_user("alice", {"dev"});
    bastion.add_target("dev01", target);
    bastion.add_key_account("dev01", target);
    // libfaketime preloaded into portcullisd itself (the `faketime` program would stand between
    // it and the harness's SIGTERM). Its steady clock stays true, as a skewed node's would.
    const char* asan = std::getenv("ASAN_OPTIONS");
    bastion.start({"env", "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                   std::string("FAKETIME=") + GetParam(), "FAKETIME_DONT_FAKE_MONOTONIC=1",
                   // Under AddressSanitizer, a library preloaded before its runtime is fine here.
                   std::string("ASAN_OPTIONS=") + (asan != nullptr ? asan : "") +
                       ":verify_asan_link_order=0"});
  }
};

TEST_P(SkewedNodeClock, ExpiryFollowsTheDatabaseClock) {
  // The skew is real: portcullisd stamps its log with its own clock, three minutes off.
  std::tm logged{};
  ASSERT_NE(strptime(bastion.log().substr(0, 19).c_str(), "%Y-%m-%dT%H:%M:%S", &logged), nullptr)
      << bastion.log();
  const auto skew =
      std::chrono::system_clock::from_time_t(timegm(&logged)) - std::chrono::system_clock::now();
  EXPECT_GT(std::chrono::abs(skew), 170s) << bastion.log();
  const json grant = alice_grant("dev01", "8s");
  const std::string id = std::to_string(grant["id"].get<long long>());
  const auto live = long_session("dev01");
  PtySession& session = *live;
  ASSERT_TRUE(session.expect("expired at", 20s)) << session.transcript();
  const auto expires_at = from_epoch(PostgresCluster::shared().query(
      bastion.database(), "SELECT extract(epoch FROM expires_at) FROM grants WHERE id = " + id));
  const auto late = std::chrono::system_clock::now() - expires_at;
  EXPECT_LT(late, 1s) << std::chrono::duration_cast<std::chrono::milliseconds>(late).count();
  EXPECT_GT(late, -100ms) << std::chrono::duration_cast<std::chrono::milliseconds>(late).count();
  session.wait_exit(10s);
}

INSTANTIATE_TEST_SUITE_P(ThreeMinutes, SkewedNodeClock, ::testing::Values("-3m", "+3m"),
                         [](const auto& info) {
                           return std::string(info.param[0] == '-' ? "Behind" : "Ahead");
                         });

}  // namespace
}  // namespace portcullis::e2e
