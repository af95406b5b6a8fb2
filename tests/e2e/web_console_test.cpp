// The web console end to end (issue 19), in a real browser: Debian's chromium driven by
// playwright-core from the Node scenarios in tests/web/, against a real portcullisd (HTTPS on
// [web] listen), PostgreSQL and sshd, with real ssh clients under ptys where a session must run.
// Sign-in links come from `ssh USER@BASTION web-login`, as a person gets them, and reach the
// scenario on its stdin (they are credentials for 60 s: never argv). The two sides interleave in
// lines (tests/web/lib.mjs says which). Screenshots of every page go to an artifact folder that
// outlives the test; its path is printed.
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>

#include "tests/support/harness.h"

namespace portcullis::e2e {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const fs::path kChromium = "/usr/bin/chromium";

fs::path ui_dir() { return source_dir() / "web" / "ui"; }

// Why the browser tests cannot run here, or "" when they can.
std::string missing_browser_parts() {
  std::string missing;
  if (::access(kChromium.c_str(), X_OK) != 0)
    missing += kChromium.string() + " (apt-get install chromium) ";
  if (!fs::exists(ui_dir() / "node_modules" / "playwright-core")) {
    missing += "web/ui/node_modules (scripts/bootstrap runs npm ci there) ";
  }
  if (run({"node", "--version"}).exit_status != 0) missing += "node ";
  return missing;
}

bool under_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string_view(ci) == "true";
}

// Where the screenshots go: kept after the test (unlike TempDir), one folder per test.
fs::path artifact_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  fs::path dir = bin_dir().parent_path() / "test-artifacts" / "web-console" / info->name();
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// A scenario from tests/web/ running under node, spoken to in lines.
class Scenario {
 public:
  Scenario(const std::string& name, const std::vector<std::string>& args, const fs::path& out) {
    std::vector<std::string> argv{"env", "PORTCULLIS_WEB_OUT=" + out.string(), "node",
                                  (source_dir() / "tests" / "web" / (name + ".mjs")).string()};
    argv.insert(argv.end(), args.begin(), args.end());
    process_ = std::make_unique<PipedProcess>(argv);
  }

  void send(const std::string& line) {
    const std::string data = line + "\n";
    std::size_t done = 0;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (done < data.size() && std::chrono::steady_clock::now() < deadline) {
      const ssize_t n = ::write(process_->input(), data.data() + done, data.size() - done);
      if (n > 0) {
        done += static_cast<std::size_t>(n);
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        break;
      } else {
        std::this_thread::sleep_for(10ms);
      }
    }
    ASSERT_EQ(done, data.size()) << "could not write to the scenario\n" << transcript_;
  }

  // The rest of the next line that starts with WORD; nullopt when the scenario failed, ended or
  // took longer than `timeout` (the transcript says which). Lines before it are kept.
  std::optional<std::string> expect(const std::string& word, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      while (!lines_.empty()) {
        const std::string line = lines_.front();
        lines_.erase(lines_.begin());
        if (line == word) return "";
        if (line.rfind(word + " ", 0) == 0) return line.substr(word.size() + 1);
        if (line.rfind("FAIL", 0) == 0) return std::nullopt;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left <= 0ms || !read_some(left)) return std::nullopt;
    }
  }

  // Reads to the end and returns the exit status (nullopt: still running after `timeout`).
  std::optional<int> finish(std::chrono::milliseconds timeout = 60s) {
    process_->close_input();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (process_->output() >= 0 && std::chrono::steady_clock::now() < deadline) {
      read_some(std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now()));
    }
    std::optional<int> status;
    wait_until([&] { return (status = process_->exit_status()).has_value(); }, 10s);
    return status;
  }

  // Every line the scenario printed, and the screenshots it saved.
  const std::string& transcript() const { return transcript_; }
  std::vector<std::string> screenshots() const {
    std::vector<std::string> files;
    static const std::regex screenshot("SCREENSHOT ([^\n]+)");
    for (std::sregex_iterator it(transcript_.begin(), transcript_.end(), screenshot), end;
         it != end; ++it) {
      files.push_back((*it)[1]);
    }
    return files;
  }

 private:
  bool read_some(std::chrono::milliseconds timeout) {
    if (process_->output() < 0) return false;
    pollfd fd{process_->output(), POLLIN, 0};
    const int ready = ::poll(&fd, 1, static_cast<int>(std::max<long long>(1, timeout.count())));
    if (ready <= 0) return ready == 0 || errno == EINTR;
    char buffer[4096];
    const ssize_t n = ::read(process_->output(), buffer, sizeof buffer);
    if (n == 0) {
      process_->close_output();
      return false;
    }
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    partial_.append(buffer, static_cast<std::size_t>(n));
    transcript_.append(buffer, static_cast<std::size_t>(n));
    for (std::size_t eol; (eol = partial_.find('\n')) != std::string::npos;) {
      lines_.push_back(partial_.substr(0, eol));
      partial_.erase(0, eol + 1);
    }
    return true;
  }

  std::unique_ptr<PipedProcess> process_;
  std::string partial_;
  std::vector<std::string> lines_;
  std::string transcript_;
};

class WebConsole : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string missing = missing_browser_parts();
    if (!missing.empty()) {
      if (under_ci()) FAIL() << "the browser tests need: " << missing << "(CI must have them)";
      GTEST_SKIP() << "the browser tests need: " << missing;
    }
    out_ = artifact_dir();
    std::cout << "screenshots: " << out_.string() << std::endl;
    RecordProperty("screenshots", out_.string());

    // A self-signed ECDSA P-256 pair (Chromium refuses Ed25519 server certificates).
    const std::string origin = bastion.enable_web();
    web_port_ = static_cast<std::uint16_t>(std::stoi(origin.substr(origin.rfind(':') + 1)));
    bastion.append_config(
        "[[policy]]\n"
        "name = \"db-single\"\n"
        "targets = [\"db*\"]\n"
        "roles = [\"dev\"]\n"
        "max_duration = \"2h\"\n"
        "approval = \"single\"\n"
        "approver_roles = [\"approver\"]\n"
        "break_glass = true\n"
        "break_glass_max = \"1h\"\n");
    alice = bastion.add_user("alice", {"dev"});
    bob = bastion.add_user("bob", {"approver", "auditor"});
    dave = bastion.add_user("dave", {"dev"});
    bastion.add_target("db01", target);
    bastion.add_key_account("db01", target);
    bastion.start();
    ASSERT_TRUE(wait_for_port(web_port_, 15s)) << "nothing listens on [web] listen\n"
                                               << bastion.log();
  }

  void TearDown() override {
    if (HasFailure()) std::cout << "portcullisd log:\n" << bastion.log() << std::endl;
  }

  // `ssh USER@BASTION web-login`: the one line with the sign-in URL.
  std::string web_login(const KeyPair& key, const std::string& user) {
    const RunResult result = run_ssh(key.private_key, bastion.port(), user, {"web-login"},
                                     RunOptions().with_timeout(30s));
    EXPECT_EQ(result.exit_status, 0) << result.err;
    std::smatch match;
    static const std::regex url("https://[^\\s]+/login\\?token=[^\\s]+");
    EXPECT_TRUE(std::regex_search(result.out, match, url)) << result.out << result.err;
    return match.empty() ? "https://127.0.0.1:1/login?token=none" : match[0].str();
  }

  void send_link(Scenario& scenario, const KeyPair& key, const std::string& user) {
    scenario.send("LINK " + user + " " + web_login(key, user));
  }

  // The scenario ran to "OK" and exit 0; its screenshots exist.
  void expect_passed(Scenario& scenario) {
    const std::optional<int> status = scenario.finish(90s);
    EXPECT_EQ(status, 0) << scenario.transcript();
    EXPECT_NE(scenario.transcript().find("\nOK\n"), std::string::npos) << scenario.transcript();
    for (const std::string& file : scenario.screenshots()) {
      EXPECT_TRUE(fs::exists(file) && fs::file_size(file) > 1000) << file;
    }
  }

  // The grant with this id, as `portcullis grant list --json` prints it (null if none).
  json grant(const std::string& id) const {
    for (const json& row : json::parse(bastion.cli_checked({"grant", "list", "--json"}))) {
      if (row["id"].dump() == id || (row["id"].is_string() && row["id"] == id)) return row;
    }
    return nullptr;
  }

  std::string active_session_id() const {
    const json sessions =
        json::parse(bastion.cli_checked({"session", "list", "--active", "--json"}));
    EXPECT_EQ(sessions.size(), 1u) << sessions.dump();
    return sessions.empty() ? "0" : std::to_string(sessions[0]["id"].get<long long>());
  }

  // A pending request of dave's, made over ssh; its grant id.
  std::string daves_pending_request() {
    const RunResult made =
        run_ssh(dave.private_key, bastion.port(), "dave",
                {"request", "db01", "--for", "30m", "--reason", "dave needs db01", "--json"},
                RunOptions().with_timeout(30s));
    EXPECT_EQ(made.exit_status, 0) << made.err;
    const json request = json::parse(made.out);
    EXPECT_EQ(request["state"], "pending");
    return std::to_string(request["id"].get<long long>());
  }

  TargetSshd target;
  Bastion bastion;
  KeyPair alice, bob, dave;
  std::uint16_t web_port_ = 0;
  fs::path out_;
};

TEST_F(WebConsole, SignInThroughAWebLoginLinkThatWorksOnce) {
  Scenario scenario("sign_in", {"alice"}, out_);
  send_link(scenario, alice, "alice");
  EXPECT_TRUE(scenario.expect("OK", 90s)) << scenario.transcript();
  expect_passed(scenario);
  // The sign-in and the refused second use are audited.
  std::vector<std::string> actions;
  for (const json& row : json::parse(bastion.cli_checked({"audit", "list", "--json"}))) {
    if (row.value("actor", "") == "user:alice") actions.push_back(row.value("action", ""));
  }
  const auto has = [&](const char* action) {
    return std::find(actions.begin(), actions.end(), action) != actions.end();
  };
  const bool audited = has("web.signed_in") && has("web.sign_in_refused");
  EXPECT_TRUE(audited) << bastion.cli_checked({"audit", "list"});
}

TEST_F(WebConsole, RequestInThePageApproveInThePageThenSshWorks) {
  // No grant yet: alice is refused.
  EXPECT_NE(run_ssh(alice.private_key, bastion.port(), "alice:db01", {"true"},
                    RunOptions().with_timeout(30s))
                .exit_status,
            0);

  Scenario scenario("request_approve", {"alice", "bob", "db01"}, out_);
  send_link(scenario, alice, "alice");
  const auto requested = scenario.expect("REQUESTED", 60s);
  ASSERT_TRUE(requested) << scenario.transcript();
  const json pending = grant(*requested);
  ASSERT_FALSE(pending.is_null()) << "no grant " << *requested;
  EXPECT_EQ(pending["state"], "pending");
  EXPECT_EQ(pending["reason"], "restart replication after the failover (web console test)");

  send_link(scenario, bob, "bob");
  ASSERT_TRUE(scenario.expect("APPROVED", 60s)) << scenario.transcript();
  const RunResult shell = run_ssh(alice.private_key, bastion.port(), "alice:db01",
                                  {"echo", "granted-$((40+2))"}, RunOptions().with_timeout(30s));
  EXPECT_EQ(shell.exit_status, 0) << shell.err;
  EXPECT_NE(shell.out.find("granted-42"), std::string::npos) << shell.out << shell.err;
  scenario.send("USED");
  ASSERT_TRUE(scenario.expect("REVOKED", 60s)) << scenario.transcript();
  EXPECT_EQ(grant(*requested)["state"], "revoked");
  EXPECT_NE(run_ssh(alice.private_key, bastion.port(), "alice:db01", {"true"},
                    RunOptions().with_timeout(30s))
                .exit_status,
            0)
      << "ssh still works after the grant was revoked in the page";
  expect_passed(scenario);
}

TEST_F(WebConsole, PlayerPlaysARecordingAndCommandsSeekIt) {
  bastion.add_grant("alice", "db01", target.account(), "30m", "player test");
  std::string id;
  {
    PtySession shell(ssh_tty_command(alice.private_key, bastion.port(), "alice:db01", {}));
    shell.write("echo first-$((20+1))\r");
    ASSERT_TRUE(shell.expect("first-21", 15s)) << shell.transcript();
    id = active_session_id();
    std::this_thread::sleep_for(2s);  // the two commands apart on the timeline
    shell.write("echo second-$((40+2))\r");
    ASSERT_TRUE(shell.expect("second-42", 10s)) << shell.transcript();
    std::this_thread::sleep_for(1s);
    shell.write("exit\r");
    shell.wait_exit(10s);
  }
  ASSERT_TRUE(wait_until(
      [&] {
        return bastion.cli({"verify", id}).exit_status == 0;
      },
      20s))
      << "the recording of session " << id << " was not stored and verified";

  Scenario scenario("player", {"bob", "alice", id, "first-", "first-21", "second-42"}, out_);
  send_link(scenario, bob, "bob");
  EXPECT_TRUE(scenario.expect("OK", 120s)) << scenario.transcript();
  expect_passed(scenario);
}

TEST_F(WebConsole, LiveViewShowsTypingWithinTwoSecondsAndTerminateEndsTheSsh) {
  bastion.add_grant("alice", "db01", target.account(), "30m", "live test");
  PtySession shell(ssh_tty_command(alice.private_key, bastion.port(), "alice:db01", {}));
  shell.write("echo shell-$((40+2))\r");
  ASSERT_TRUE(shell.expect("shell-42", 15s)) << shell.transcript();
  const std::string id = active_session_id();

  Scenario scenario("live", {"bob", id, "live-55"}, out_);
  send_link(scenario, bob, "bob");
  ASSERT_TRUE(scenario.expect("READY", 60s)) << scenario.transcript();
  shell.write("echo live-$((50+5))\r");
  scenario.send("TYPED");
  const auto seen = scenario.expect("SEEN", 15s);
  ASSERT_TRUE(seen) << scenario.transcript();
  std::cout << "typed text reached the live view in " << *seen << " ms" << std::endl;
  EXPECT_LE(std::stoi(*seen), 2000) << "ms from typing to the live view";

  ASSERT_TRUE(scenario.expect("TERMINATED", 30s)) << scenario.transcript();
  EXPECT_TRUE(shell.expect("ended by bob", 10s)) << shell.transcript();
  EXPECT_TRUE(shell.wait_exit(10s).has_value()) << "the ssh session outlived terminate\n"
                                                << shell.transcript();
  scenario.send("GONE");
  expect_passed(scenario);
  const json session = json::parse(bastion.cli_checked({"session", "show", id, "--json"}));
  EXPECT_EQ(session["end_reason"], "killed");
}

TEST_F(WebConsole, HostileReasonShowsAsInertText) {
  Scenario scenario("inert_text", {"alice", "bob", "db01"}, out_);
  send_link(scenario, alice, "alice");
  const auto requested = scenario.expect("REQUESTED", 60s);
  ASSERT_TRUE(requested) << scenario.transcript();
  send_link(scenario, bob, "bob");
  EXPECT_TRUE(scenario.expect("OK", 90s)) << scenario.transcript();
  expect_passed(scenario);
  // Stored as typed, denied with the reason typed in the page.
  const json denied = grant(*requested);
  EXPECT_EQ(denied["state"], "denied");
  EXPECT_EQ(denied["deny_reason"], "no <b>reason</b> given");
  EXPECT_NE(denied["reason"].get<std::string>().find("<script>"), std::string::npos);
}

TEST_F(WebConsole, UserWithoutTheApproverRoleGets403AndNoApproveButton) {
  const std::string pending = daves_pending_request();
  Scenario scenario("no_approver", {"alice", pending}, out_);
  send_link(scenario, alice, "alice");
  EXPECT_TRUE(scenario.expect("OK", 90s)) << scenario.transcript();
  expect_passed(scenario);
  EXPECT_EQ(grant(pending)["state"], "pending") << "a refused approve changed the request";
}

TEST_F(WebConsole, BreakGlassGrantIsReviewedAndAcknowledgedInThePage) {
  const RunResult raised =
      run_ssh(alice.private_key, bastion.port(), "alice",
              {"break-glass", "db01", "--for", "20m", "--reason", "prod is down", "--json"},
              RunOptions().with_timeout(30s));
  ASSERT_EQ(raised.exit_status, 0) << raised.err;
  const std::string id = std::to_string(json::parse(raised.out)["id"].get<long long>());
  const RunResult used = run_ssh(alice.private_key, bastion.port(), "alice:db01",
                                 {"echo", "bg-$((40+2))"}, RunOptions().with_timeout(30s));
  ASSERT_EQ(used.exit_status, 0) << used.err;

  Scenario scenario("review", {"bob", id}, out_);
  send_link(scenario, bob, "bob");
  EXPECT_TRUE(scenario.expect("OK", 90s)) << scenario.transcript();
  expect_passed(scenario);
  const json reviewed = grant(id);
  EXPECT_FALSE(reviewed["reviewed_at"].is_null()) << reviewed.dump();
  EXPECT_EQ(reviewed["review_note"], "checked the session: restarted the database only");
}

TEST_F(WebConsole, EnrolledUserEntersTheTotpCodeInThePage) {
  const RunResult enrolled = bastion.cli({"user", "totp", "alice"});
  ASSERT_EQ(enrolled.exit_status, 0) << enrolled.err;
  std::smatch secret;
  ASSERT_TRUE(std::regex_search(enrolled.out, secret, std::regex("secret=([A-Z2-7]+)")))
      << enrolled.out;
  Scenario scenario("totp", {"alice"}, out_);
  send_link(scenario, alice, "alice");
  ASSERT_TRUE(scenario.expect("ASK", 60s)) << scenario.transcript();
  // The code from oathtool: an implementation independent of the bastion's.
  const std::string code = run_checked({"oathtool", "--totp", "-b", secret[1].str()}).substr(0, 6);
  scenario.send("CODE " + code);
  EXPECT_TRUE(scenario.expect("OK", 60s)) << scenario.transcript();
  expect_passed(scenario);
}

}  // namespace
}  // namespace portcullis::e2e
