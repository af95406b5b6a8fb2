// The web console's "Sign in with SSO" (authorization code flow with PKCE) with the real
// portcullisd, PostgreSQL, the OpenID provider fixture (tests/oidc) and curl as the browser: a
// cookie jar in a file, and every URL or form carrying a secret (state, code, password) in a
// 0600 curl config file, never in argv.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <regex>

#include "tests/support/harness.h"
#include "tests/support/oidc_provider.h"

namespace portcullis::e2e {
namespace {

using nlohmann::json;

constexpr std::string_view kPolicy = R"([[policy]]
name = "sso-only"
targets = ["db*"]
roles = ["dev"]
max_duration = "1h"
approval = "auto"
auth = ["sso"]

[[policy]]
name = "key-and-sso"
targets = ["web*"]
roles = ["dev"]
max_duration = "1h"
approval = "auto"
auth = ["key", "sso"]
)";

struct Hop {
  int status = 0;
  std::string headers;  // lower-cased names and values
  std::string location;
  std::string body;
};

// One browser: curl with a cookie jar of its own, for both the bastion and the provider.
class Browser {
 public:
  Browser(const fs::path& dir, std::string name, fs::path provider_ca)
      : dir_(dir), jar_(dir / (name + ".cookies")), provider_ca_(std::move(provider_ca)) {}

  // One request, no redirect followed. `form` (urlencoded) makes it a POST.
  Hop go(const std::string& url, const std::string& form = "", const std::string& csrf = "",
         const std::string& json_body = "") const {
    std::string config = "url = " + quoted(url) + "\n";
    if (!form.empty()) config += "data = " + quoted(form) + "\n";
    if (!json_body.empty()) {
      config += "data = " + quoted(json_body) + "\nheader = \"Content-Type: application/json\"\n";
    }
    if (!csrf.empty()) config += "header = " + quoted("X-CSRF-Token: " + csrf) + "\n";
    const fs::path file = dir_ / ("curl-" + random_hex(6) + ".conf");
    write_file(file, config);
    fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
    // The bastion's certificate is self-signed (-k); the provider's CA is trusted explicitly.
    std::vector<std::string> argv{"curl",        "-s", "-i",          "--max-time",
                                  "30",          "-b", jar_.string(), "-c",
                                  jar_.string(), "-K", file.string()};
    if (url.starts_with("https://127.0.0.1:") && !provider_url(url)) {
      argv.emplace_back("-k");
    } else {
      argv.insert(argv.end(), {"--cacert", provider_ca_.string()});
    }
    const RunResult result = run(argv);
    fs::remove(file);
    Hop hop;
    const std::size_t split = result.out.find("\r\n\r\n");
    if (split == std::string::npos) return hop;
    hop.headers = result.out.substr(0, split);
    for (char& c : hop.headers) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    hop.body = result.out.substr(split + 4);
    std::smatch match;
    if (std::regex_search(hop.headers, match, std::regex("^http/[0-9.]+ ([0-9]{3})"))) {
      hop.status = std::stoi(match[1]);
    }
    // The Location's own case matters (state, code): read it from the raw headers.
    const std::string raw = result.out.substr(0, split);
    if (std::regex_search(raw, match, std::regex("\r\n[Ll]ocation: ([^\r\n]*)"))) {
      hop.location = match[1];
    }
    return hop;
  }

  std::string provider_issuer;

 private:
  bool provider_url(const std::string& url) const {
    return !provider_issuer.empty() && url.starts_with(provider_issuer + "/");
  }
  static std::string quoted(const std::string& value) {
    std::string out = "\"";
    for (char c : value) {
      if (c == '\\' || c == '"') out.push_back('\\');
      out.push_back(c);
    }
    return out + "\"";
  }

  fs::path dir_;
  fs::path jar_;
  fs::path provider_ca_;
};

std::string form_escape(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return out;
}

class WebSso : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string missing = OidcProvider::unavailable();
    if (!missing.empty()) {
      if (OidcProvider::fixtures_required()) FAIL() << missing << " (CI must have it)";
      GTEST_SKIP() << missing;
    }
    bastion.append_config(kPolicy);
    base = bastion.enable_web();
    bastion.add_target("db01", target);
    bastion.add_key_account("db01", target);
    bastion.add_target("web01", target);
    bastion.add_key_account("web01", target);
    provider = std::make_unique<OidcProvider>();
    provider->add_user("alice", alice_password, {"sre"});
    provider->add_user("mallory", mallory_password, {"sre"}, /*disabled=*/true);
    provider->add_redirect_uri(base + "/api/v1/sso/callback");
    provider->start();
    bastion.append_config("[identity.oidc]\nissuer = \"" + provider->issuer() +
                          "\"\nclient_id = \"" + provider->client_id() +
                          "\"\nclient_secret_file = \"" + provider->client_secret_file().string() +
                          "\"\nca_file = \"" + provider->ca_file().string() +
                          "\"\nscopes = [\"openid\", \"profile\", \"groups\"]\n"
                          "role_map = { \"sre\" = \"dev\" }\nprovision = \"create\"\n");
    bastion.start();
  }

  Browser browser(const std::string& name) const {
    Browser b(dir.path(), name, provider->ca_file());
    b.provider_issuer = provider->issuer();
    return b;
  }

  // Opens /api/v1/sso/start in `b`: the provider's authorization URL.
  std::string start(const Browser& b) const {
    const Hop hop = b.go(base + "/api/v1/sso/start");
    EXPECT_EQ(hop.status, 302) << hop.headers << hop.body << bastion.log();
    return hop.location;
  }

  // Signs in at the provider through its pages, as a browser would, until it sends the browser
  // back to the bastion: returns that callback URL (not yet opened).
  std::string sign_in_at_provider(const Browser& b, std::string url, const std::string& login,
                                  const std::string& password) const {
    for (int hops = 0; hops < 12; ++hops) {
      if (url.starts_with(base + "/")) return url;
      const Hop hop = b.go(url);
      if (hop.status >= 300 && hop.status < 400) {
        url = hop.location.starts_with("/") ? provider->issuer() + hop.location : hop.location;
        continue;
      }
      const std::string path = url.substr(provider->issuer().size());
      Hop answer;
      if (hop.status == 200 && hop.body.find("id=\"login\"") != std::string::npos) {
        answer = b.go(provider->issuer() + path + "/login",
                      "login=" + form_escape(login) + "&password=" + form_escape(password));
      } else if (hop.status == 200 && hop.body.find("id=\"consent\"") != std::string::npos) {
        answer = b.go(provider->issuer() + path + "/confirm", "confirm=1");
      } else {
        ADD_FAILURE() << "unexpected page at the provider: HTTP " << hop.status << " " << hop.body
                      << provider->log();
        return "";
      }
      if (answer.status < 300 || answer.status >= 400) {
        ADD_FAILURE() << "the provider answered HTTP " << answer.status << ": " << answer.body;
        return "";
      }
      url =
          answer.location.starts_with("/") ? provider->issuer() + answer.location : answer.location;
    }
    ADD_FAILURE() << "the provider never sent the browser back";
    return "";
  }

  std::string audit() const { return bastion.cli_checked({"audit", "list", "--json"}); }

  TempDir dir{"portcullis-web-sso"};
  TargetSshd target;
  Bastion bastion;
  std::unique_ptr<OidcProvider> provider;
  std::string base;
  const std::string alice_password = random_hex(12);
  const std::string mallory_password = random_hex(12);
};

TEST_F(WebSso, SignsInThroughTheProviderAndTheSessionCountsAsSso) {
  // Before signing in, the page learns that SSO is on.
  const Browser b = browser("alice");
  const Hop sso = b.go(base + "/api/v1/sso");
  EXPECT_EQ(sso.status, 200);
  EXPECT_EQ(json::parse(sso.body, nullptr, false)["enabled"], true) << sso.body;

  const Hop started = b.go(base + "/api/v1/sso/start");
  ASSERT_EQ(started.status, 302) << started.body << bastion.log();
  const std::string& authorize = started.location;
  EXPECT_TRUE(authorize.starts_with(provider->issuer() + "/")) << authorize;
  for (const char* part : {"response_type=code", "code_challenge_method=S256", "code_challenge=",
                           "nonce=", "state=", "redirect_uri=https%3A%2F%2F127.0.0.1"}) {
    EXPECT_NE(authorize.find(part), std::string::npos) << part << " in " << authorize;
  }
  EXPECT_EQ(authorize.find("code_verifier"), std::string::npos) << authorize;
  std::smatch cookie;
  ASSERT_TRUE(std::regex_search(started.headers, cookie,
                                std::regex("set-cookie: portcullis_sso=([^\r\n]*)")))
      << started.headers;
  for (const char* flag : {"httponly", "secure", "samesite=lax", "max-age=600"}) {
    EXPECT_NE(cookie[1].str().find(flag), std::string::npos) << flag << " in " << cookie[1];
  }

  const std::string callback = sign_in_at_provider(b, authorize, "alice", alice_password);
  ASSERT_FALSE(callback.empty());
  const Hop back = b.go(callback);
  ASSERT_EQ(back.status, 302) << back.body << bastion.log();
  EXPECT_EQ(back.location, "/");
  EXPECT_NE(back.headers.find("set-cookie: portcullis_session="), std::string::npos)
      << back.headers;

  // The session works and carries the roles mapped from the provider's groups.
  const Hop me = b.go(base + "/api/v1/me");
  ASSERT_EQ(me.status, 200) << me.body;
  const json who = json::parse(me.body);
  EXPECT_EQ(who["user"], "alice");
  EXPECT_EQ(who["roles"], json::array({"dev"}));
  EXPECT_EQ(PostgresCluster::shared().query(
                bastion.database(),
                "SELECT sign_in_method FROM web_sessions s JOIN users u ON u.id = s.user_id "
                "WHERE u.name = 'alice'"),
            "sso");

  // A policy that takes SSO sign-ins only accepts this session's request.
  const Hop request =
      b.go(base + "/api/v1/requests", "", who["csrf"],
           json{{"target", "db01"}, {"duration", "30m"}, {"reason", "deploy"}}.dump());
  EXPECT_EQ(request.status, 201) << request.body;
  // A rule that wants a key as well refuses it: the browser signed in without one.
  const Hop both =
      b.go(base + "/api/v1/requests", "", who["csrf"],
           json{{"target", "web01"}, {"duration", "30m"}, {"reason", "deploy"}}.dump());
  EXPECT_EQ(both.status, 403) << both.body;

  // The same callback again (state and code used): refused, and no session comes of it.
  const Hop replay = b.go(callback);
  EXPECT_EQ(replay.status, 400) << replay.body;
  EXPECT_NE(replay.body.find("already used"), std::string::npos) << replay.body;
  EXPECT_EQ(replay.headers.find("set-cookie: portcullis_session="), std::string::npos);

  const std::string log = audit();
  const json rows = json::parse(log);
  EXPECT_TRUE(std::any_of(rows.begin(), rows.end(), [](const json& row) {
    return row["action"] == "web.signed_in" && row["details"]["method"] == "sso";
  })) << log;
  EXPECT_NE(log.find("web.sign_in_refused"), std::string::npos);
  // No secret of the flow reaches the daemon's log.
  const std::size_t state_at = authorize.find("state=");
  const std::string state = authorize.substr(state_at + 6, 43);
  EXPECT_EQ(bastion.log().find(state), std::string::npos);
}

TEST_F(WebSso, StateFromAnotherBrowserOrMadeUpIsRefused) {
  const Browser victim = browser("victim");
  const std::string callback = sign_in_at_provider(victim, start(victim), "alice", alice_password);
  ASSERT_FALSE(callback.empty());
  // Login CSRF: the callback opened in a browser that did not start the sign-in.
  const Browser attacker = browser("attacker");
  const Hop foreign = attacker.go(callback);
  EXPECT_EQ(foreign.status, 400) << foreign.body;
  EXPECT_NE(foreign.body.find("another browser"), std::string::npos) << foreign.body;
  EXPECT_EQ(foreign.headers.find("set-cookie: portcullis_session="), std::string::npos);
  EXPECT_EQ(attacker.go(base + "/api/v1/me").status, 401);
  // The state is used up by that try: the right browser cannot use it afterwards either.
  EXPECT_EQ(victim.go(callback).status, 400);

  // A state nobody issued.
  const Browser b = browser("made-up");
  start(b);
  const Hop made_up = b.go(base + "/api/v1/sso/callback?code=abc&state=" + std::string(43, 'A'));
  EXPECT_EQ(made_up.status, 400) << made_up.body;
  EXPECT_NE(made_up.body.find("unknown"), std::string::npos) << made_up.body;
  EXPECT_NE(audit().find("other browser"), std::string::npos);
  EXPECT_EQ(
      PostgresCluster::shared().query(bastion.database(), "SELECT count(*) FROM web_sessions"),
      "0");
}

TEST_F(WebSso, SignInOlderThanTenMinutesIsRefused) {
  const Browser b = browser("slow");
  const std::string callback = sign_in_at_provider(b, start(b), "alice", alice_password);
  ASSERT_FALSE(callback.empty());
  // As if the person had taken eleven minutes at the provider.
  PostgresCluster::shared().query(
      bastion.database(),
      "UPDATE web_sso_pending SET created_at = created_at - interval '11 minutes', "
      "expires_at = expires_at - interval '11 minutes'");
  const Hop back = b.go(callback);
  EXPECT_EQ(back.status, 400) << back.body;
  EXPECT_NE(back.body.find("longer than 10 minutes"), std::string::npos) << back.body;
  EXPECT_EQ(b.go(base + "/api/v1/me").status, 401);
}

TEST_F(WebSso, UserDisabledAtTheProviderCannotSignIn) {
  const Browser b = browser("mallory");
  const std::string callback = sign_in_at_provider(b, start(b), "mallory", mallory_password);
  ASSERT_FALSE(callback.empty());
  EXPECT_NE(callback.find("error=access_denied"), std::string::npos) << callback;
  const Hop back = b.go(callback);
  EXPECT_EQ(back.status, 403) << back.body;
  EXPECT_NE(back.body.find("access_denied"), std::string::npos) << back.body;
  EXPECT_EQ(b.go(base + "/api/v1/me").status, 401);
  EXPECT_NE(audit().find("idp: access_denied"), std::string::npos);
  EXPECT_EQ(PostgresCluster::shared().query(bastion.database(),
                                            "SELECT count(*) FROM users WHERE name = 'mallory'"),
            "0");
}

// The same in Chromium (tests/web/sso.mjs): the button on the sign-in page, the provider's pages,
// and the cookies under a real browser's SameSite rules.
TEST_F(WebSso, BrowserSignsInWithTheSsoButton) {
  const fs::path ui = source_dir() / "web" / "ui";
  if (::access("/usr/bin/chromium", X_OK) != 0 ||
      !fs::exists(ui / "node_modules" / "playwright-core")) {
    GTEST_SKIP() << "the browser test needs /usr/bin/chromium and web/ui/node_modules";
  }
  const RunResult result =
      run({"node", (source_dir() / "tests" / "web" / "sso.mjs").string(), base, "alice"},
          RunOptions()
              .with_stdin("PASSWORD " + alice_password + "\n")
              .with_timeout(std::chrono::seconds(120))
              .with_env({"PORTCULLIS_WEB_OUT=" + (dir.path() / "screenshots").string()}));
  EXPECT_EQ(result.exit_status, 0) << result.out << result.err << bastion.log();
  EXPECT_NE(result.out.find("\nOK\n"), std::string::npos) << result.out << result.err;
}

}  // namespace
}  // namespace portcullis::e2e
