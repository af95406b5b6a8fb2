// Live oversight end to end (issue 16): two portcullisd nodes on one database, real ssh clients
// under ptys. An auditor on node B watches a session held by node A, the watched user is told,
// a user without the role is refused, and sessions are ended from the other node with a reason
// the user sees.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "tests/support/harness.h"

namespace portcullis::e2e {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class OversightTest : public ::testing::Test {
 protected:
  OversightTest() : node_b(gateway.bastion, "node-b") {
    carol = gateway.bastion.add_user("carol", {"auditor"});
    dave = gateway.bastion.add_user("dave", {"developer"});
    node_b.start();
  }

  // alice's shell on db01 through node A, and its session id once the session is open.
  std::unique_ptr<PtySession> alice_shell() {
    auto shell = std::make_unique<PtySession>(
        ssh_tty_command(gateway.user_key.private_key, gateway.bastion.port(), gateway.login(), {}));
    shell->write("echo shell-$((40+2))\r");
    EXPECT_TRUE(shell->expect("shell-42", 15s)) << shell->transcript();
    return shell;
  }

  std::string active_session_id() const {
    const json sessions =
        json::parse(gateway.bastion.cli_checked({"session", "list", "--active", "--json"}));
    EXPECT_EQ(sessions.size(), 1u) << sessions.dump();
    return sessions.empty() ? "0" : std::to_string(sessions[0]["id"].get<long long>());
  }

  std::vector<std::string> audit_actions() const {
    std::vector<std::string> actions;
    for (const json& row : json::parse(gateway.bastion.cli_checked({"audit", "list", "--json"}))) {
      actions.push_back(row["action"].get<std::string>());
    }
    return actions;
  }

  // Leaves the shell; true once its whole recording is stored and verifies.
  bool end_and_store(PtySession& shell, const std::string& id) const {
    shell.write("exit\r");
    shell.wait_exit(10s);
    return wait_until([&] { return gateway.bastion.cli({"verify", id}).exit_status == 0; }, 15s);
  }

  static bool contains(const std::vector<std::string>& items, const std::string& item) {
    return std::find(items.begin(), items.end(), item) != items.end();
  }

  Gateway gateway;
  Bastion node_b;
  KeyPair carol, dave;
};

TEST_F(OversightTest, AuditorOnTheOtherNodeWatchesLiveAndTheUserIsTold) {
  const auto shell = alice_shell();
  const std::string id = active_session_id();

  PtySession watcher(ssh_tty_command(carol.private_key, node_b.port(), "carol", {"watch", id}));
  // The current screen at once, rendered from what was shipped so far, and the status line.
  ASSERT_TRUE(watcher.expect("shell-42", 10s)) << watcher.transcript();
  ASSERT_TRUE(watcher.expect("LIVE  session " + id + "  alice@db01", 5s)) << watcher.transcript();
  EXPECT_TRUE(shell->expect("carol \\(auditor\\) is watching this session", 5s))
      << shell->transcript();

  // What alice types shows on the watcher's screen within a second (live shipping while
  // watched, one look every 100 ms).
  shell->write("echo typed-$((6*7))\r");
  const auto typed = std::chrono::steady_clock::now();
  ASSERT_TRUE(watcher.expect("typed-42", 10s)) << watcher.transcript();
  const auto lag = std::chrono::steady_clock::now() - typed;
  EXPECT_LT(lag, 1s) << "the watcher saw the output "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(lag).count()
                     << " ms after it was typed";

  watcher.write("q");
  EXPECT_EQ(watcher.wait_exit(10s), 0) << watcher.transcript();
  EXPECT_TRUE(shell->expect("carol \\(auditor\\) stopped watching this session", 5s))
      << shell->transcript();
  const std::vector<std::string> actions = audit_actions();
  EXPECT_TRUE(contains(actions, "session.watch_started"));
  EXPECT_TRUE(contains(actions, "session.watch_stopped"));

  // The arrival and the departure are marked in the recording.
  ASSERT_TRUE(end_and_store(*shell, id));
  const std::string exported = gateway.bastion.cli_checked({"export", id, "--format", "asciicast"});
  EXPECT_NE(exported.find("watch_started carol (auditor)"), std::string::npos) << exported;
  EXPECT_NE(exported.find("watch_stopped carol (auditor)"), std::string::npos) << exported;
}

TEST_F(OversightTest, WatchingTakesARoleAndATerminal) {
  const auto shell = alice_shell();
  const std::string id = active_session_id();

  const RunResult refused = run_ssh(dave.private_key, node_b.port(), "dave", {"watch", id});
  EXPECT_EQ(refused.exit_status, 1);
  EXPECT_NE(refused.err.find("dave may not watch sessions"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("watch_roles = [auditor, admin]"), std::string::npos) << refused.err;

  const RunResult no_pty = run_ssh(carol.private_key, node_b.port(), "carol", {"watch", id});
  EXPECT_NE(no_pty.exit_status, 0);
  EXPECT_NE(no_pty.err.find("needs a terminal: ssh -t"), std::string::npos) << no_pty.err;

  // --json says who takes part, once, without a live view.
  const RunResult described =
      run_ssh(carol.private_key, node_b.port(), "carol", {"watch", id, "--json"});
  ASSERT_EQ(described.exit_status, 0) << described.err;
  const json session = json::parse(described.out);
  EXPECT_EQ(session["user"], "alice");
  EXPECT_EQ(session["state"], "running");
  EXPECT_TRUE(session["participants"].is_array());

  const RunResult unknown = run_ssh(carol.private_key, node_b.port(), "carol", {"watch", "999999"});
  EXPECT_EQ(unknown.exit_status, 1);
  EXPECT_NE(unknown.err.find("no session with id 999999"), std::string::npos) << unknown.err;
  EXPECT_FALSE(shell->expect("is watching this session", 1s));
}

TEST_F(OversightTest, SessionsOverSshListTheSameColumnsAsTheCli) {
  const auto shell = alice_shell();
  const std::string id = active_session_id();

  const RunResult table =
      run_ssh(carol.private_key, node_b.port(), "carol", {"sessions", "--active"});
  ASSERT_EQ(table.exit_status, 0) << table.err;
  const std::string cli_table = gateway.bastion.cli_checked({"session", "list", "--active"});
  EXPECT_EQ(table.out.substr(0, table.out.find('\n')), cli_table.substr(0, cli_table.find('\n')));
  EXPECT_NE(table.out.find("alice"), std::string::npos) << table.out;

  const RunResult listed =
      run_ssh(carol.private_key, node_b.port(), "carol", {"sessions", "--active", "--json"});
  ASSERT_EQ(listed.exit_status, 0) << listed.err;
  const json sessions = json::parse(listed.out);
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(std::to_string(sessions[0]["id"].get<long long>()), id);
  const json cli_sessions =
      json::parse(gateway.bastion.cli_checked({"session", "list", "--active", "--json"}));
  EXPECT_EQ(sessions, cli_sessions);

  const RunResult refused = run_ssh(dave.private_key, node_b.port(), "dave", {"sessions"});
  EXPECT_EQ(refused.exit_status, 1);
  EXPECT_NE(refused.err.find("dave may not list sessions"), std::string::npos) << refused.err;
}

TEST_F(OversightTest, KillFromTheOtherNodeEndsTheSessionWithinASecondSayingWhoAndWhy) {
  const auto shell = alice_shell();
  const std::string id = active_session_id();

  const RunResult refused =
      run_ssh(dave.private_key, node_b.port(), "dave", {"kill", id, "--reason", "mine"});
  EXPECT_EQ(refused.exit_status, 1);
  EXPECT_NE(refused.err.find("dave may not end sessions"), std::string::npos) << refused.err;

  const RunResult killed = run_ssh(carol.private_key, node_b.port(), "carol",
                                   {"kill", id, "--reason", "copying the customer table"});
  ASSERT_EQ(killed.exit_status, 0) << killed.err;
  const auto asked = std::chrono::steady_clock::now();
  ASSERT_TRUE(shell->expect("session " + id + " ended by carol: copying the customer table", 5s))
      << shell->transcript();
  const auto took = std::chrono::steady_clock::now() - asked;
  EXPECT_LT(took, 1s) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                      << " ms";
  shell->wait_exit(10s);
  const json session = json::parse(gateway.bastion.cli_checked({"session", "show", id, "--json"}));
  EXPECT_EQ(session["end_reason"], "killed");
}

TEST_F(OversightTest, WatcherEndsTheSessionWithCtrlBracketK) {
  const auto shell = alice_shell();
  const std::string id = active_session_id();
  PtySession watcher(ssh_tty_command(carol.private_key, node_b.port(), "carol", {"watch", id}));
  ASSERT_TRUE(watcher.expect("shell-42", 10s)) << watcher.transcript();
  watcher.write("\x1dk");
  ASSERT_TRUE(watcher.expect("reason", 5s)) << watcher.transcript();
  watcher.write("\r");  // no reason: refused, still asking
  ASSERT_TRUE(watcher.expect("a reason is required", 5s)) << watcher.transcript();
  watcher.write("too risky\r");
  EXPECT_TRUE(shell->expect("ended by carol: too risky", 5s)) << shell->transcript();
  // The watch ends with the session it showed.
  EXPECT_TRUE(watcher.expect("session " + id + " ended \\(killed\\)", 10s)) << watcher.transcript();
  EXPECT_EQ(watcher.wait_exit(10s), 0);
}

TEST_F(OversightTest, CliWatchShowsTheScreenAndAnnouncesTheAdministrator) {
  const auto shell = alice_shell();
  const std::string id = active_session_id();
  PtySession watcher({(bin_dir() / "portcullis").string(), "-c",
                      gateway.bastion.config_file().string(), "session", "watch", id});
  ASSERT_TRUE(watcher.expect("shell-42", 10s)) << watcher.transcript();
  EXPECT_TRUE(shell->expect("\\(admin\\) is watching this session", 5s)) << shell->transcript();
  shell->write("echo from-cli-$((6*7))\r");
  EXPECT_TRUE(watcher.expect("from-cli-42", 5s)) << watcher.transcript();
  watcher.write("q");
  EXPECT_EQ(watcher.wait_exit(10s), 0) << watcher.transcript();
  EXPECT_TRUE(shell->expect("stopped watching this session", 5s)) << shell->transcript();
}

TEST_F(OversightTest, WithoutAnnouncementsTheUserIsNotToldButTheAuditIsKept) {
  gateway.bastion.stop();
  gateway.bastion.append_config("[oversight]\nannounce = false\n");
  gateway.bastion.start();
  const auto shell = alice_shell();
  const std::string id = active_session_id();
  PtySession watcher(ssh_tty_command(carol.private_key, node_b.port(), "carol", {"watch", id}));
  ASSERT_TRUE(watcher.expect("shell-42", 10s)) << watcher.transcript();
  EXPECT_FALSE(shell->expect("is watching this session", 3s)) << shell->transcript();
  watcher.write("q");
  EXPECT_EQ(watcher.wait_exit(10s), 0);
  EXPECT_TRUE(contains(audit_actions(), "session.watch_started"));
  ASSERT_TRUE(end_and_store(*shell, id));
  const std::string exported = gateway.bastion.cli_checked({"export", id, "--format", "asciicast"});
  EXPECT_NE(exported.find("watch_started carol (auditor)"), std::string::npos) << exported;
}

TEST_F(OversightTest, JoinerOnTheOtherNodeTypesIntoTheSessionAndTheRecordingSaysWho) {
  const KeyPair erin = gateway.bastion.add_user("erin", {"admin"});
  const auto shell = alice_shell();
  const std::string id = active_session_id();

  // An auditor may watch but not join: join_roles is [admin] by default.
  const RunResult refused = run_ssh(carol.private_key, node_b.port(), "carol", {"join", id});
  EXPECT_EQ(refused.exit_status, 1);
  EXPECT_NE(refused.err.find("carol may not join sessions"), std::string::npos) << refused.err;

  PtySession joiner(ssh_tty_command(erin.private_key, node_b.port(), "erin", {"join", id}));
  ASSERT_TRUE(joiner.expect("JOINED  session " + id, 10s)) << joiner.transcript();
  EXPECT_TRUE(shell->expect("erin \\(admin\\) joined this session and may type", 5s))
      << shell->transcript();
  joiner.write("echo joined-$((6*7))\r");
  // The keys reach the target through node A: alice sees the command run.
  EXPECT_TRUE(shell->expect("joined-42", 5s)) << shell->transcript();
  EXPECT_TRUE(joiner.expect("joined-42", 5s)) << joiner.transcript();
  joiner.write("\x1dq");
  EXPECT_EQ(joiner.wait_exit(10s), 0) << joiner.transcript();
  EXPECT_TRUE(shell->expect("erin \\(admin\\) left this session", 5s)) << shell->transcript();

  ASSERT_TRUE(end_and_store(*shell, id));
  const json commands = json::parse(gateway.bastion.cli_checked({"commands", id, "--json"}));
  std::map<std::string, std::string> typed_by;
  for (const json& c : commands) typed_by[c["line"]] = c["typed_by"];
  EXPECT_EQ(typed_by["echo joined-$((6*7))"], "erin") << commands.dump();
  EXPECT_EQ(typed_by["echo shell-$((40+2))"], "alice") << commands.dump();
  const std::string text = gateway.bastion.cli_checked({"commands", id});
  EXPECT_NE(text.find("[erin] echo joined-$((6*7))"), std::string::npos) << text;
  EXPECT_TRUE(contains(audit_actions(), "session.join_started"));
}

// A moderated rule: the session reaches its target only once a moderator has joined, and the
// user's input pauses while none is there.
class ModeratedTest : public ::testing::Test {
 protected:
  ModeratedTest() {
    const std::string policy =
        "[[policy]]\nname = \"prod-db-moderated\"\ntargets = [\"db*\"]\n"
        "approver_roles = [\"admin\"]\nrequire_moderator = true\n";
    alice = bastion.add_user("alice");
    erin = bastion.add_user("erin", {"admin"});
    bastion.add_target("db01", target);
    bastion.add_key_account("db01", target);
    bastion.add_grant("alice", "db01", target.account(), "30m");
    bastion.append_config(policy);
    bastion.start();
  }

  TargetSshd target;
  Bastion bastion;
  KeyPair alice, erin;
};

TEST_F(ModeratedTest, WaitsForAModeratorAndPausesWhenTheLastOneLeaves) {
  PtySession shell(ssh_tty_command(alice.private_key, bastion.port(), "alice:db01", {}));
  const auto waiting = shell.expect("waiting for a moderator.*join ([0-9]+)", 15s);
  ASSERT_TRUE(waiting) << shell.transcript();
  const std::string id = waiting->substr(waiting->rfind(' ') + 1);
  // Nothing reaches the target meanwhile.
  shell.write("echo early-$((6*7))\r");
  EXPECT_FALSE(shell.expect("early-42", 2s)) << shell.transcript();

  auto moderator = std::make_unique<PtySession>(
      ssh_tty_command(erin.private_key, bastion.port(), "erin", {"join", id}));
  ASSERT_TRUE(shell.expect("a moderator joined; connecting to db01", 10s)) << shell.transcript();
  shell.write("echo moderated-$((6*7))\r");
  ASSERT_TRUE(shell.expect("moderated-42", 10s)) << shell.transcript();

  moderator->write("\x1dq");
  EXPECT_EQ(moderator->wait_exit(10s), 0);
  ASSERT_TRUE(shell.expect("the last moderator left; your input is paused", 10s))
      << shell.transcript();
  shell.write("echo paused-$((6*7))\r");
  EXPECT_FALSE(shell.expect("paused-42", 2s)) << shell.transcript();

  moderator = std::make_unique<PtySession>(
      ssh_tty_command(erin.private_key, bastion.port(), "erin", {"join", id}));
  ASSERT_TRUE(shell.expect("a moderator is back", 10s)) << shell.transcript();
  // What was typed while paused waited in the SSH window and goes through now.
  EXPECT_TRUE(shell.expect("paused-42", 10s)) << shell.transcript();
  // The user leaves while the moderator is there (without one, `exit` would wait too); the
  // moderator's view ends with the session.
  shell.write("exit\r");
  EXPECT_EQ(shell.wait_exit(10s), 0) << shell.transcript();
  EXPECT_TRUE(moderator->expect("session " + id + " ended \\(client_exit\\)", 10s))
      << moderator->transcript();
  ASSERT_TRUE(wait_until([&] { return bastion.cli({"verify", id}).exit_status == 0; }, 15s));
  const std::string exported = bastion.cli_checked({"export", id, "--format", "asciicast"});
  EXPECT_NE(exported.find("join_started erin (admin)"), std::string::npos) << exported;
  EXPECT_NE(exported.find("input_paused no moderator"), std::string::npos) << exported;
  EXPECT_NE(exported.find("input_resumed"), std::string::npos) << exported;
}

}  // namespace
}  // namespace portcullis::e2e
