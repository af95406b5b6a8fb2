// Engineer ergonomics (issue 22) with the real clients: scp, sftp, rsync and git through the
// bastion with the colon-free login name (alice+db01) and with the Host block `config` prints;
// `connect` from request to shell in one ssh connection (at once under an automatic rule,
// after another user's approval under a single-approval rule, Ctrl-C withdrawing the request);
// `wait` exit codes.
#include <gtest/gtest.h>

#include <future>
#include <nlohmann/json.hpp>
#include <regex>

#include "tests/support/harness.h"

namespace portcullis::e2e {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kPolicy = R"([[policy]]
name = "dev-auto"
targets = ["dev*"]
roles = ["dev"]
max_duration = "1h"
approval = "auto"

[[policy]]
name = "db-single"
targets = ["db*"]
roles = ["dev"]
max_duration = "1h"
approval = "single"
approver_roles = ["approver"]
)";

class Ergonomics : public ::testing::Test {
 protected:
  Ergonomics() {
    bastion.append_config(kPolicy);
    alice = bastion.add_user("alice", {"dev"});
    bob = bastion.add_user("bob", {"approver"});
    for (const char* name : {"dev01", "db01", "db02", "web01"}) {
      bastion.add_target(name, target);
      bastion.add_key_account(name, target);
    }
    bastion.start();
  }

  RunResult control(const KeyPair& key, const std::string& user,
                    const std::vector<std::string>& command,
                    std::chrono::milliseconds timeout = 30s) {
    return run_ssh(key.private_key, bastion.port(), user, command,
                   RunOptions().with_timeout(timeout));
  }

  // ssh options for the tools' -e / GIT_SSH_COMMAND: the harness's client options as one line.
  std::string ssh_command_line(const KeyPair& key) const {
    std::string line = "ssh";
    for (const std::string& option : ssh_client_options(key.private_key, bastion.port())) {
      line += " '" + option + "'";
    }
    return line;
  }

  // A folder on the target, owned by the target account, for files the tools copy there.
  std::string remote_folder(const std::string& login) {
    const std::string folder = "/tmp/pcl-ergo-" + random_hex();
    const RunResult made = run_ssh(alice.private_key, bastion.port(), login, {"mkdir " + folder});
    EXPECT_EQ(made.exit_status, 0) << made.err << bastion.log();
    return folder;
  }

  // The request id in a line such as "portcullis: request 7 (db01:pcl-target): waiting ...".
  static std::string request_id(const std::string& text) {
    std::smatch match;
    if (!std::regex_search(text, match, std::regex("request ([0-9]+) \\("))) return "";
    return match[1];
  }

  json grant_state(const std::string& id) {
    const RunResult grants = control(alice, "alice", {"grants", "--json"});
    for (const json& grant : json::parse(grants.out)) {
      if (std::to_string(grant["id"].get<long long>()) == id) return grant;
    }
    return nullptr;
  }

  TargetSshd target;
  Bastion bastion;
  KeyPair alice;
  KeyPair bob;
  TempDir work{"portcullis-ergo"};
};

TEST_F(Ergonomics, PlusLoginNameCarriesScpSftpRsyncAndGit) {
  bastion.add_grant("alice", "db01", target.account());
  const std::string login = "alice+db01";
  const std::string folder = remote_folder(login);
  make_random_file(work / "payload", 3 << 20);
  const std::string expected = sha256_file(work / "payload");
  const std::vector<std::string> options =
      ssh_client_options(alice.private_key, bastion.port(), "-P");
  auto with_options = [&](std::vector<std::string> argv, std::vector<std::string> rest) {
    argv.insert(argv.end(), options.begin(), options.end());
    argv.insert(argv.end(), rest.begin(), rest.end());
    return argv;
  };

  // scp: the destination is split at the first ':', which the '+' form does not have.
  const std::string remote = login + "@127.0.0.1:" + folder;
  RunResult scp = run(with_options({"scp"}, {(work / "payload").string(), remote + "/by-scp"}));
  ASSERT_EQ(scp.exit_status, 0) << scp.err << bastion.log();
  scp = run(with_options({"scp"}, {remote + "/by-scp", (work / "back-scp").string()}));
  ASSERT_EQ(scp.exit_status, 0) << scp.err;
  EXPECT_EQ(sha256_file(work / "back-scp"), expected);

  // sftp, in batch mode.
  write_file(work / "batch", "put " + (work / "payload").string() + " " + folder +
                                 "/by-sftp\nget " + folder + "/by-sftp " +
                                 (work / "back-sftp").string() + "\n");
  const RunResult sftp =
      run(with_options({"sftp", "-b", (work / "batch").string()}, {login + "@127.0.0.1"}));
  ASSERT_EQ(sftp.exit_status, 0) << sftp.err;
  EXPECT_EQ(sha256_file(work / "back-sftp"), expected);

  // rsync over ssh, a folder both ways.
  fs::create_directories(work / "tree/sub");
  fs::copy_file(work / "payload", work / "tree/sub/payload");
  write_file(work / "tree/note", "hello\n");
  const std::string rsync_ssh = ssh_command_line(alice);
  RunResult rsync =
      run({"rsync", "-a", "-e", rsync_ssh, (work / "tree").string() + "/", remote + "/tree/"});
  ASSERT_EQ(rsync.exit_status, 0) << rsync.err << bastion.log();
  rsync = run({"rsync", "-a", "-e", rsync_ssh, remote + "/tree/", (work / "tree-back").string()});
  ASSERT_EQ(rsync.exit_status, 0) << rsync.err;
  EXPECT_EQ(sha256_file(work / "tree-back/sub/payload"), expected);
  EXPECT_EQ(read_file(work / "tree-back/note"), "hello\n");

  // git: push to a bare repository on the target and clone it back, scp-like syntax.
  ASSERT_EQ(run_ssh(alice.private_key, bastion.port(), login,
                    {"git init -q --bare -b main " + folder + "/repo.git"})
                .exit_status,
            0);
  const fs::path source = work / "source";
  fs::create_directories(source);
  const std::vector<std::string> git_env{
      "GIT_SSH_COMMAND=" + rsync_ssh,    "GIT_AUTHOR_NAME=e2e",
      "GIT_AUTHOR_EMAIL=e2e@example",    "GIT_COMMITTER_NAME=e2e",
      "GIT_COMMITTER_EMAIL=e2e@example", "HOME=" + work.path().string()};
  auto git = [&](const fs::path& dir, std::vector<std::string> args) {
    args.insert(args.begin(), {"git", "-C", dir.string()});
    return run(args, RunOptions().with_env(git_env).with_timeout(60s));
  };
  fs::copy_file(work / "payload", source / "payload");
  ASSERT_EQ(git(source, {"init", "-q", "-b", "main"}).exit_status, 0);
  ASSERT_EQ(git(source, {"add", "payload"}).exit_status, 0);
  ASSERT_EQ(git(source, {"commit", "-q", "-m", "payload"}).exit_status, 0);
  const RunResult push = git(source, {"push", "-q", remote + "/repo.git", "main"});
  ASSERT_EQ(push.exit_status, 0) << push.err << bastion.log();
  const RunResult clone = git(work.path(), {"clone", "-q", remote + "/repo.git", "clone"});
  ASSERT_EQ(clone.exit_status, 0) << clone.err;
  EXPECT_EQ(sha256_file(work / "clone/payload"), expected);

  // Every transfer was a recorded session under the grant, named with the usual target.
  const json sessions = json::parse(bastion.cli_checked({"session", "list", "--json"}));
  ASSERT_GE(sessions.size(), 8u);
  for (const json& s : sessions) EXPECT_EQ(s["target"], "db01");
}

TEST_F(Ergonomics, ConfigHostBlockMakesPlainToolsWork) {
  bastion.add_grant("alice", "db01", target.account());
  const RunResult printed = control(alice, "alice", {"config"});
  ASSERT_EQ(printed.exit_status, 0) << printed.err;
  // db01 (granted) and dev01, db02 (requestable) are there; web01 (no rule for her) is not.
  const std::vector<std::string> lines{
      "Host db01.portcullis", "Host db02.portcullis", "Host dev01.portcullis",
      "User alice+db01",      "HostName 127.0.0.1",   "Port " + std::to_string(bastion.port())};
  for (const std::string& line : lines) {
    EXPECT_NE(printed.out.find(line), std::string::npos) << line << "\n" << printed.out;
  }
  EXPECT_EQ(printed.out.find("web01"), std::string::npos) << printed.out;
  const json data = json::parse(control(alice, "alice", {"config", "--json"}).out);
  ASSERT_EQ(data["hosts"].size(), 3u) << data.dump(2);
  EXPECT_EQ(data["bastion"]["port"], bastion.port());
  EXPECT_EQ(data["hosts"][0]["host"], "db01.portcullis");
  EXPECT_EQ(data["hosts"][0]["user"], "alice+db01");
  EXPECT_EQ(data["hosts"][0]["grants"].size(), 1u);
  EXPECT_EQ(data["hosts"][1]["requestable"], true);

  // The block as printed, plus what this test's client needs (its key, no known_hosts).
  const fs::path config = work / "ssh_config";
  write_file(config, printed.out + "\nHost *\n    IdentityFile " + alice.private_key.string() +
                         "\n    IdentitiesOnly yes\n    IdentityAgent none\n"
                         "    StrictHostKeyChecking no\n    UserKnownHostsFile /dev/null\n"
                         "    BatchMode yes\n    LogLevel ERROR\n");
  const std::string folder = remote_folder("alice+db01");
  make_random_file(work / "payload", 1 << 20);
  const std::string expected = sha256_file(work / "payload");
  const RunResult shell = run({"ssh", "-F", config.string(), "db01.portcullis", "echo via-config"});
  EXPECT_EQ(shell.out, "via-config\n") << shell.err << bastion.log();
  RunResult scp = run({"scp", "-F", config.string(), (work / "payload").string(),
                       "db01.portcullis:" + folder + "/p"});
  ASSERT_EQ(scp.exit_status, 0) << scp.err;
  scp = run(
      {"scp", "-F", config.string(), "db01.portcullis:" + folder + "/p", (work / "back").string()});
  ASSERT_EQ(scp.exit_status, 0) << scp.err;
  EXPECT_EQ(sha256_file(work / "back"), expected);
  const RunResult rsync = run({"rsync", "-a", "-e", "ssh -F " + config.string(),
                               "db01.portcullis:" + folder + "/p", (work / "back-rsync").string()});
  ASSERT_EQ(rsync.exit_status, 0) << rsync.err;
  EXPECT_EQ(sha256_file(work / "back-rsync"), expected);
  ASSERT_EQ(run({"ssh", "-F", config.string(), "db01.portcullis",
                 "git init -q --bare " + folder + "/repo.git"})
                .exit_status,
            0);
  const RunResult clone = run(
      {"git", "clone", "-q", "db01.portcullis:" + folder + "/repo.git", (work / "clone").string()},
      RunOptions().with_env({"GIT_SSH_COMMAND=ssh -F " + config.string()}).with_timeout(60s));
  EXPECT_EQ(clone.exit_status, 0) << clone.err << bastion.log();
  EXPECT_TRUE(fs::is_directory(work / "clone/.git"));
}

TEST_F(Ergonomics, ConnectUnderAnAutomaticRuleOpensAShellAtOnce) {
  PtySession session(ssh_tty_command(alice.private_key, bastion.port(), "alice",
                                     {"connect", "dev01", "--for", "10m", "--reason", "deploy"}));
  ASSERT_TRUE(session.expect("ends at", 20s)) << session.transcript() << bastion.log();
  session.write("echo shell-$((6*7))\r");
  EXPECT_TRUE(session.expect("shell-42", 10s)) << session.transcript();
  session.write("exit\r");
  EXPECT_EQ(session.wait_exit(10s), 0) << session.transcript();
  const json sessions = json::parse(bastion.cli_checked({"session", "list", "--json"}));
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0]["target"], "dev01");
  EXPECT_EQ(sessions[0]["end_reason"], "client_exit");

  // With the grant active, `connect` without --for and --reason simply connects.
  PtySession again(
      ssh_tty_command(alice.private_key, bastion.port(), "alice", {"connect", "dev01"}));
  ASSERT_TRUE(again.expect("ends at", 20s)) << again.transcript();
  again.write("exit\r");
  EXPECT_EQ(again.wait_exit(10s), 0);
  EXPECT_EQ(json::parse(bastion.cli_checked({"grant", "list", "--json"})).size(), 1u)
      << "no second request";
}

TEST_F(Ergonomics, ConnectWaitsForTheApprovalThenBecomesAShell) {
  PtySession session(ssh_tty_command(alice.private_key, bastion.port(), "alice",
                                     {"connect", "db01", "--for", "10m", "--reason", "fix"}));
  // expect() takes a regular expression.
  const auto waiting = session.expect("waiting for 1 of 1 approvals \\(rule db-single\\)", 20s);
  ASSERT_TRUE(waiting) << session.transcript() << bastion.log();
  const std::string id = request_id(session.transcript());
  ASSERT_FALSE(id.empty()) << session.transcript();

  const RunResult approved = control(bob, "bob", {"approve", id, "--comment", "ok"});
  const auto approved_at = Clock::now();
  ASSERT_EQ(approved.exit_status, 0) << approved.err;
  ASSERT_TRUE(session.expect("approved by bob", 10s)) << session.transcript();
  // The shell on the target announces the grant's end as it opens.
  ASSERT_TRUE(session.expect("ends at", 10s)) << session.transcript() << bastion.log();
  EXPECT_LE(Clock::now() - approved_at, 2s) << "the shell came too long after the approval";
  session.write("echo on-target-$((40+2))\r");
  ASSERT_TRUE(session.expect("on-target-42", 10s)) << session.transcript();
  session.write("exit 5\r");
  EXPECT_EQ(session.wait_exit(10s), 5) << session.transcript();
}

TEST_F(Ergonomics, CtrlCWhileConnectWaitsWithdrawsTheRequest) {
  PtySession session(ssh_tty_command(alice.private_key, bastion.port(), "alice",
                                     {"connect", "db01", "--for", "10m", "--reason", "fix"}));
  ASSERT_TRUE(session.expect("Ctrl-C withdraws it", 20s)) << session.transcript();
  const std::string id = request_id(session.transcript());
  ASSERT_FALSE(id.empty());
  session.write("\x03");
  EXPECT_TRUE(session.expect("request " + id + " withdrawn", 10s)) << session.transcript();
  EXPECT_EQ(session.wait_exit(10s), 130);
  EXPECT_EQ(grant_state(id)["state"], "revoked");
}

TEST_F(Ergonomics, WaitExitsZeroWhenApprovedAndOneWhenDenied) {
  auto request = [&] {
    const RunResult made =
        control(alice, "alice", {"request", "db01", "--for", "10m", "--reason", "check"});
    EXPECT_EQ(made.exit_status, 0) << made.err;
    std::smatch match;
    EXPECT_TRUE(std::regex_search(made.out, match, std::regex("request ([0-9]+) ")));
    return std::string(match[1]);
  };
  const std::string first = request();
  auto waited = std::async(std::launch::async, [&] {
    return control(alice, "alice", {"wait", first});
  });
  std::this_thread::sleep_for(1s);
  ASSERT_EQ(control(bob, "bob", {"approve", first}).exit_status, 0);
  const RunResult approved = waited.get();
  EXPECT_EQ(approved.exit_status, 0) << approved.err;
  EXPECT_NE(approved.err.find("active until"), std::string::npos) << approved.err;

  const std::string second = request();
  waited = std::async(std::launch::async, [&] {
    return control(alice, "alice", {"wait", second});
  });
  std::this_thread::sleep_for(1s);
  ASSERT_EQ(control(bob, "bob", {"deny", second, "--reason", "not now"}).exit_status, 0);
  const RunResult denied = waited.get();
  EXPECT_EQ(denied.exit_status, 1);
  EXPECT_NE(denied.err.find("denied by bob: not now"), std::string::npos) << denied.err;

  // Decided already: no wait. Not hers or unknown: refused.
  EXPECT_EQ(control(alice, "alice", {"wait", first}).exit_status, 0);
  const RunResult unknown = control(alice, "alice", {"wait", "999"});
  EXPECT_EQ(unknown.exit_status, 1);
  EXPECT_NE(unknown.err.find("no request 999"), std::string::npos) << unknown.err;
}

}  // namespace
}  // namespace portcullis::e2e
