// The web console's JSON API and sign-in (issue 19) with the real portcullisd, PostgreSQL, sshd,
// ssh and curl: the one-time link from `ssh USER@BASTION web-login`, the session cookie's
// flags, CSRF, TOTP in the browser session, the security headers, and refusals that match the
// ssh commands'. The pages themselves are tested in Chromium (web_console_test.cpp).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "tests/support/harness.h"

namespace portcullis::e2e {
namespace {

using nlohmann::json;

constexpr std::string_view kPolicy = R"([[policy]]
name = "db-single"
targets = ["db*"]
roles = ["dev"]
max_duration = "1h"
approval = "single"
approver_roles = ["approver"]
)";

struct Answer {
  int status = 0;
  std::string headers;  // lower-cased
  std::string body;
  json value() const { return json::parse(body, nullptr, false); }
};

// One browser: curl with a cookie jar of its own.
class Browser {
 public:
  Browser(const TempDir& dir, std::string base, std::string name)
      : base_(std::move(base)), jar_(dir.path() / (name + ".cookies")) {}

  Answer call(const std::string& method, const std::string& path, const json& body = nullptr,
              bool with_csrf = true) const {
    std::vector<std::string> argv{"curl", "-sk", "--max-time",  "20", "-i",         "-X",
                                  method, "-b",  jar_.string(), "-c", jar_.string()};
    if (!body.is_null()) {
      argv.insert(argv.end(),
                  {"-H", "Content-Type: application/json", "--data-binary", body.dump()});
    }
    if (with_csrf && !csrf.empty()) argv.insert(argv.end(), {"-H", "X-CSRF-Token: " + csrf});
    argv.push_back(base_ + path);
    const RunResult result = run(argv);
    Answer answer;
    const std::size_t split = result.out.find("\r\n\r\n");
    if (split == std::string::npos) return answer;
    answer.headers = result.out.substr(0, split);
    for (char& c : answer.headers)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    answer.body = result.out.substr(split + 4);
    std::smatch status;
    if (std::regex_search(answer.headers, status, std::regex("^http/[0-9.]+ ([0-9]{3})"))) {
      answer.status = std::stoi(status[1]);
    }
    return answer;
  }

  // Signs in with a link's token; keeps the CSRF token for later calls.
  Answer sign_in(const std::string& token) {
    Answer answer = call("POST", "/api/v1/login", {{"token", token}});
    if (answer.status == 200) csrf = answer.value().value("csrf", "");
    return answer;
  }

  std::string csrf;

 private:
  std::string base_;
  fs::path jar_;
};

class WebApi : public ::testing::Test {
 protected:
  WebApi() {
    bastion.append_config(kPolicy);
    base = bastion.enable_web();
    alice = bastion.add_user("alice", {"dev"});
    bob = bastion.add_user("bob", {"approver"});
    audrey = bastion.add_user("audrey", {"auditor"});
    bastion.add_target("db01", target);
    bastion.add_key_account("db01", target);
    bastion.start();
  }

  // The token of a fresh `web-login` link, checking the line it prints.
  std::string login_token(const KeyPair& key, const std::string& user) {
    const RunResult result = run_ssh(key.private_key, bastion.port(), user, {"web-login"});
    EXPECT_EQ(result.exit_status, 0) << result.err << bastion.log();
    std::smatch match;
    EXPECT_TRUE(std::regex_search(result.out, match,
                                  std::regex(base + "/login\\?token=([A-Za-z0-9_-]{43})")))
        << result.out;
    return match.size() > 1 ? std::string(match[1]) : "";
  }

  Browser signed_in(const KeyPair& key, const std::string& user) {
    Browser browser(dir, base, user);
    const Answer answer = browser.sign_in(login_token(key, user));
    EXPECT_EQ(answer.status, 200) << answer.body;
    return browser;
  }

  TempDir dir{"portcullis-web"};
  TargetSshd target;
  Bastion bastion;
  std::string base;
  KeyPair alice, bob, audrey;
};

TEST_F(WebApi, SignInLinkWorksOnceAndOpensAStrictSession) {
  const std::string token = login_token(alice, "alice");
  Browser browser(dir, base, "alice");
  const Answer first = browser.sign_in(token);
  ASSERT_EQ(first.status, 200) << first.body << bastion.log();
  EXPECT_EQ(first.value()["user"], "alice");
  EXPECT_EQ(first.value()["mfa_required"], false);
  EXPECT_EQ(first.value()["may"]["approve"], false);
  std::smatch cookie;
  ASSERT_TRUE(std::regex_search(first.headers, cookie, std::regex("set-cookie: ([^\r\n]*)")));
  for (const char* flag : {"httponly", "secure", "samesite=strict", "path=/"}) {
    EXPECT_NE(cookie[1].str().find(flag), std::string::npos) << flag << " in " << cookie[1];
  }
  EXPECT_EQ(browser.call("GET", "/api/v1/me").value()["user"], "alice");

  // The same link again, from another browser: refused, and says what to do.
  Browser other(dir, base, "other");
  const Answer again = other.sign_in(token);
  EXPECT_EQ(again.status, 401);
  EXPECT_NE(again.body.find("already used or has expired"), std::string::npos) << again.body;
  EXPECT_EQ(other.call("GET", "/api/v1/me").status, 401);
  // A made-up token is refused the same way.
  EXPECT_EQ(other.sign_in(std::string(43, 'A')).status, 401);

  const std::string audit = bastion.cli_checked({"audit", "list", "--json"});
  EXPECT_NE(audit.find("web.link_issued"), std::string::npos);
  EXPECT_NE(audit.find("web.signed_in"), std::string::npos);
  EXPECT_NE(audit.find("web.sign_in_refused"), std::string::npos);

  // Signed out: the cookie no longer works.
  EXPECT_EQ(browser.call("POST", "/api/v1/logout", json::object()).status, 200);
  EXPECT_EQ(browser.call("GET", "/api/v1/me").status, 401);
}

// Without [identity.oidc] the page is told there is no SSO, and its routes do not exist.
TEST_F(WebApi, SsoRoutesAnswer404WithoutIdentityOidc) {
  Browser browser(dir, base, "nobody");
  const Answer sso = browser.call("GET", "/api/v1/sso");
  EXPECT_EQ(sso.status, 200);
  EXPECT_EQ(sso.value()["enabled"], false) << sso.body;
  EXPECT_EQ(browser.call("GET", "/api/v1/sso/start").status, 404);
  EXPECT_EQ(browser.call("GET", "/api/v1/sso/callback?code=a&state=b").status, 404);
}

TEST_F(WebApi, PagesCarryAStrictContentSecurityPolicy) {
  const Answer page = Browser(dir, base, "anonymous").call("GET", "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.headers.find("content-type: text/html"), std::string::npos);
  EXPECT_NE(page.headers.find("script-src 'self'"), std::string::npos) << page.headers;
  EXPECT_EQ(page.headers.find("'unsafe-eval'"), std::string::npos) << page.headers;
  EXPECT_EQ(page.headers.find("'unsafe-inline'"), std::string::npos) << page.headers;
  EXPECT_NE(page.headers.find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_NE(page.headers.find("x-content-type-options: nosniff"), std::string::npos);
  EXPECT_NE(page.headers.find("strict-transport-security"), std::string::npos);
  EXPECT_EQ(Browser(dir, base, "anonymous").call("GET", "/api/v1/grants").status, 401);
}

TEST_F(WebApi, RefusesWhatTheRolesDoNotAllowAndChangesWithoutCsrf) {
  Browser browser = signed_in(alice, "alice");
  EXPECT_EQ(browser.call("GET", "/api/v1/requests").status, 403);
  EXPECT_EQ(browser.call("GET", "/api/v1/sessions").status, 403);
  EXPECT_EQ(browser.call("GET", "/api/v1/audit").status, 403);
  EXPECT_EQ(browser.call("POST", "/api/v1/requests/1/approve", json::object()).status, 403);
  const json request = {{"target", "db01"},
                        {"duration", "30m"},
                        {"reason", "no csrf"},
                        {"login", ""},
                        {"ticket", ""}};
  const Answer without = browser.call("POST", "/api/v1/requests", request, false);
  EXPECT_EQ(without.status, 403);
  EXPECT_NE(without.body.find("CSRF"), std::string::npos) << without.body;
  EXPECT_EQ(bastion.cli_checked({"grant", "list", "--json"}).find("no csrf"), std::string::npos);
  // The policy's refusal is the ssh command's, word for word.
  const Answer too_long = browser.call(
      "POST", "/api/v1/requests", {{"target", "db01"}, {"duration", "5h"}, {"reason", "too long"}});
  EXPECT_EQ(too_long.status, 403) << too_long.body;
  const RunResult ssh = run_ssh(alice.private_key, bastion.port(), "alice",
                                {"request", "db01", "--for", "5h", "--reason", "too long"});
  EXPECT_NE(ssh.err.find(too_long.value().value("error", "?")), std::string::npos)
      << ssh.err << " vs " << too_long.body;
}

TEST_F(WebApi, RequestAndApprovalThroughTheApiOpenTheTarget) {
  Browser requester = signed_in(alice, "alice");
  const Answer made = requester.call(
      "POST", "/api/v1/requests",
      {{"target", "db01"}, {"duration", "30m"}, {"reason", "rotate logs"}, {"ticket", "OPS-1"}});
  ASSERT_EQ(made.status, 201) << made.body << bastion.log();
  const json grant = made.value();
  EXPECT_EQ(grant["state"], "pending");
  EXPECT_EQ(grant["ticket"], "OPS-1");
  const std::string id = std::to_string(grant["id"].get<long long>());

  Browser approver = signed_in(bob, "bob");
  EXPECT_EQ(approver.call("GET", "/api/v1/me").value()["may"]["approve"], true);
  const json queue = approver.call("GET", "/api/v1/requests").value();
  ASSERT_TRUE(queue.is_array()) << queue;
  ASSERT_EQ(queue.size(), 1u) << queue;
  EXPECT_EQ(queue[0]["grant"]["reason"], "rotate logs");
  EXPECT_TRUE(queue[0]["history"].is_array());
  const Answer approved =
      approver.call("POST", "/api/v1/requests/" + id + "/approve", {{"comment", "ok from web"}});
  ASSERT_EQ(approved.status, 200) << approved.body;
  EXPECT_EQ(approved.value()["state"], "active");

  const RunResult session =
      run_ssh(alice.private_key, bastion.port(), "alice:db01", {"echo", "through-the-web"});
  EXPECT_EQ(session.exit_status, 0) << session.err << bastion.log();
  EXPECT_NE(session.out.find("through-the-web"), std::string::npos);

  const json mine = requester.call("GET", "/api/v1/grants").value();
  ASSERT_TRUE(mine.is_array() && !mine.empty()) << mine;
  EXPECT_EQ(mine[0]["state"], "active");
}

TEST_F(WebApi, AuditorSeesSessionsWithTheirGrantAndRecording) {
  bastion.add_grant("alice", "db01", target.account(), "30m", "check <script>alert(1)</script>");
  const RunResult session =
      run_ssh(alice.private_key, bastion.port(), "alice:db01", {"echo", "recorded-words"});
  ASSERT_EQ(session.exit_status, 0) << session.err;
  Browser auditor = signed_in(audrey, "audrey");
  json list;
  for (int i = 0; i < 100; ++i) {
    list = auditor.call("GET", "/api/v1/sessions?user=alice").value();
    if (list.is_array() && !list.empty() && list[0]["verification"] == "verified") break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(list.is_array() && list.size() == 1) << list;
  EXPECT_EQ(list[0]["verification"], "verified") << list;
  EXPECT_GT(list[0]["size"].get<long long>(), 0);
  // JSON carries the reason as it was typed; the pages show it as text.
  EXPECT_EQ(list[0]["reason"].get<std::string>().find("<script>"), 6u);
  const std::string id = std::to_string(list[0]["session"]["id"].get<long long>());
  const json page = auditor.call("GET", "/api/v1/sessions/" + id).value();
  EXPECT_EQ(page["verification"]["state"], "verified") << page;
  EXPECT_EQ(page["grant"]["user"], "alice");
  const Answer cast = auditor.call("GET", "/api/v1/sessions/" + id + "/asciicast");
  EXPECT_EQ(cast.status, 200);
  EXPECT_NE(cast.body.find("recorded-words"), std::string::npos);
  const json found = auditor.call("GET", "/api/v1/search?q=recorded-words").value();
  ASSERT_TRUE(found.is_array() && !found.empty()) << found;
  EXPECT_EQ(std::to_string(found[0]["session_id"].get<long long>()), id);
}

TEST_F(WebApi, EnrolledUserMustGiveTotpBeforeAnythingElse) {
  const RunResult enrolled = bastion.cli({"user", "totp", "alice"});
  ASSERT_EQ(enrolled.exit_status, 0) << enrolled.err;
  std::smatch secret;
  ASSERT_TRUE(std::regex_search(enrolled.out, secret, std::regex("secret=([A-Z2-7]+)")));
  Browser browser(dir, base, "alice");
  const Answer signed_in = browser.sign_in(login_token(alice, "alice"));
  ASSERT_EQ(signed_in.status, 200) << signed_in.body;
  EXPECT_EQ(signed_in.value()["mfa_required"], true);
  EXPECT_EQ(browser.call("GET", "/api/v1/grants").status, 401);
  EXPECT_EQ(browser.call("POST", "/api/v1/login/totp", {{"code", "000000"}}).status, 401);
  const std::string code = run_checked({"oathtool", "--totp", "-b", secret[1].str()}).substr(0, 6);
  const Answer verified = browser.call("POST", "/api/v1/login/totp", {{"code", code}});
  ASSERT_EQ(verified.status, 200) << verified.body;
  EXPECT_EQ(verified.value()["mfa_verified"], true);
  EXPECT_EQ(browser.call("GET", "/api/v1/grants").status, 200);
}

TEST_F(WebApi, SignInAttemptsAreLimitedPerAddress) {
  Browser guesser(dir, base, "guesser");
  int limited = 0;
  for (int i = 0; i < 30; ++i) {
    const Answer answer = guesser.sign_in(std::string(43, static_cast<char>('A' + i % 26)));
    if (answer.status == 429)
      ++limited;
    else
      EXPECT_EQ(answer.status, 401) << answer.body;
  }
  EXPECT_GE(limited, 5);
  // A real link is refused too while the address is limited: no guessing between.
  EXPECT_EQ(guesser.sign_in(login_token(alice, "alice")).status, 429);
}

TEST_F(WebApi, LiveViewRefusesOtherOriginsAndStrangers) {
  Browser auditor = signed_in(audrey, "audrey");
  const auto upgrade = [&](const std::string& origin, bool with_cookie) {
    std::vector<std::string> argv{"curl",      "-sk",
                                  "--http1.1", "--max-time",
                                  "10",        "-i",
                                  "-H",        "Connection: Upgrade",
                                  "-H",        "Upgrade: websocket",
                                  "-H",        "Sec-WebSocket-Version: 13",
                                  "-H",        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                                  "-H",        "Origin: " + origin};
    if (with_cookie) argv.insert(argv.end(), {"-b", (dir / "audrey.cookies").string()});
    argv.push_back(base + "/api/v1/sessions/1/live");
    return run(argv).out;
  };
  EXPECT_NE(upgrade("https://evil.example", true).find(" 403 "), std::string::npos);
  EXPECT_NE(upgrade(base, false).find(" 401 "), std::string::npos);
  // Allowed in, but there is no session 1.
  EXPECT_NE(upgrade(base, true).find(" 404 "), std::string::npos);
}

}  // namespace
}  // namespace portcullis::e2e
