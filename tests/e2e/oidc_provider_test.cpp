// The OpenID provider fixture (tests/support/oidc_provider.h) proves itself with curl alone,
// before any Portcullis code relies on it: discovery, the device authorization grant end to end,
// the claims in the ID token, a disabled user and a wrong password refused, key rotation.
#include "tests/support/oidc_provider.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace portcullis::e2e {
namespace {

using nlohmann::json;

constexpr std::string_view kDeviceGrant = "urn:ietf:params:oauth:grant-type:device_code";

// RFC 4648 section 5 without padding, as in a JWT; throws on anything else.
std::string base64url_decode(std::string_view text) {
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (const char c : text) {
    int value = -1;
    if (c >= 'A' && c <= 'Z') value = c - 'A';
    if (c >= 'a' && c <= 'z') value = c - 'a' + 26;
    if (c >= '0' && c <= '9') value = c - '0' + 52;
    if (c == '-') value = 62;
    if (c == '_') value = 63;
    if (value < 0) throw std::invalid_argument("not base64url: " + std::string(text));
    buffer = (buffer << 6) | static_cast<unsigned>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  return out;
}

// The header and the payload of a compact JWS.
std::pair<json, json> jwt_parts(const std::string& token) {
  const auto first = token.find('.');
  const auto second = token.find('.', first + 1);
  if (first == std::string::npos || second == std::string::npos) {
    throw std::invalid_argument("not a JWT: " + token);
  }
  return {
      json::parse(base64url_decode(std::string_view(token).substr(0, first))),
      json::parse(base64url_decode(std::string_view(token).substr(first + 1, second - first - 1)))};
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class OidcFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string missing = OidcProvider::unavailable();
    if (!missing.empty()) {
      if (OidcProvider::fixtures_required()) FAIL() << missing << "(CI must have it)";
      GTEST_SKIP() << missing;
    }
    provider_ = std::make_unique<OidcProvider>();
    provider_->add_user("alice", alice_password_, {"sre", "sre-leads"});
    provider_->add_user("mallory", mallory_password_, {"sre"}, /*disabled=*/true);
    provider_->add_redirect_uri("https://127.0.0.1:1/oidc/callback");
    provider_->start();
    discovery_ = json::parse(provider_->discovery());
  }

  void TearDown() override {
    if (!provider_) return;
    EXPECT_NO_THROW(provider_->stop()) << provider_->log();
    // What the provider wrote holds no secret it was given.
    const std::string log = provider_->log();
    for (const std::string& secret :
         {provider_->client_secret(), alice_password_, mallory_password_}) {
      EXPECT_EQ(log.find(secret), std::string::npos) << log;
    }
  }

  // POST to an endpoint from discovery; the form fields and the client's credentials reach
  // curl in its config file, never in argv. Returns the JSON answer (errors are JSON too).
  json post(const std::string& endpoint, const std::vector<std::string>& fields,
            bool client_auth = true) const {
    std::string config;
    for (const std::string& field : fields) {
      std::string quoted;  // curl's config syntax: backslash before a quote or a backslash
      for (const char c : field) {
        if (c == '"' || c == '\\') quoted += '\\';
        quoted += c;
      }
      config += "data-urlencode = \"" + quoted + "\"\n";
    }
    const RunResult result =
        provider_->curl({discovery_.at(endpoint).get<std::string>()}, config, client_auth);
    if (result.exit_status != 0) {
      throw std::runtime_error("curl " + endpoint + " failed: " + result.err + "\n" +
                               provider_->log());
    }
    return json::parse(result.out);
  }

  json device_authorization() const {
    return post("device_authorization_endpoint", {"scope=openid profile groups"});
  }

  json poll_token(const std::string& device_code) const {
    return post("token_endpoint",
                {"grant_type=" + std::string(kDeviceGrant), "device_code=" + device_code});
  }

  std::unique_ptr<OidcProvider> provider_;
  json discovery_;
  const std::string alice_password_ = random_hex(12);
  const std::string mallory_password_ = random_hex(12);
};

TEST_F(OidcFixture, DiscoveryAdvertisesTheDeviceFlowAndPkce) {
  EXPECT_EQ(discovery_.at("issuer"), provider_->issuer());
  EXPECT_EQ(discovery_.at("device_authorization_endpoint"), provider_->issuer() + "/device/auth");
  EXPECT_EQ(discovery_.at("jwks_uri"), provider_->issuer() + "/jwks");
  const auto grants = discovery_.at("grant_types_supported").get<std::vector<std::string>>();
  EXPECT_NE(std::find(grants.begin(), grants.end(), kDeviceGrant), grants.end());
  EXPECT_NE(std::find(grants.begin(), grants.end(), "authorization_code"), grants.end());
  EXPECT_EQ(discovery_.at("code_challenge_methods_supported"), json::array({"S256"}));
  EXPECT_EQ(discovery_.at("id_token_signing_alg_values_supported"), json::array({"RS256"}));
  EXPECT_EQ(provider_->jwks_kids().size(), 1u);
}

TEST_F(OidcFixture, DeviceFlowGivesAnIdTokenWithUsernameGroupsAndAuthTime) {
  const std::int64_t before = now_seconds();
  const json authorization = device_authorization();
  ASSERT_TRUE(authorization.contains("user_code")) << authorization.dump();
  const std::string user_code = authorization.at("user_code");
  EXPECT_EQ(user_code.size(), 9u) << user_code;  // ABCD-EFGH
  EXPECT_EQ(authorization.at("verification_uri"), provider_->issuer() + "/device");
  const std::string device_code = authorization.at("device_code");

  // Nobody signed in yet: the bastion keeps polling.
  EXPECT_EQ(poll_token(device_code).at("error"), "authorization_pending");

  const RunResult completed = provider_->complete_device(authorization.at("verification_uri"),
                                                         user_code, "alice", alice_password_);
  ASSERT_EQ(completed.exit_status, 0) << completed.err << completed.out << provider_->log();
  EXPECT_EQ(completed.err.find(alice_password_), std::string::npos);

  const json tokens = poll_token(device_code);
  ASSERT_TRUE(tokens.contains("id_token")) << tokens.dump();
  const auto [header, claims] = jwt_parts(tokens.at("id_token"));
  EXPECT_EQ(header.at("alg"), "RS256");
  EXPECT_EQ(header.at("kid"), provider_->jwks_kids().at(0));
  EXPECT_EQ(claims.at("iss"), provider_->issuer());
  EXPECT_EQ(claims.at("aud"), provider_->client_id());
  EXPECT_EQ(claims.at("sub"), "alice");
  EXPECT_EQ(claims.at("preferred_username"), "alice");
  EXPECT_EQ(claims.at("groups"), json::array({"sre", "sre-leads"}));
  const std::int64_t auth_time = claims.at("auth_time");
  EXPECT_GE(auth_time, before - 1);
  EXPECT_LE(auth_time, now_seconds() + 1);
  EXPECT_GT(claims.at("exp").get<std::int64_t>(), now_seconds());

  // A device code gives tokens once.
  EXPECT_EQ(poll_token(device_code).at("error"), "invalid_grant");
}

TEST_F(OidcFixture, DisabledUserIsRefusedAndTheDeviceIsDenied) {
  const json authorization = device_authorization();
  const RunResult completed =
      provider_->complete_device(authorization.at("verification_uri"),
                                 authorization.at("user_code"), "mallory", mallory_password_);
  EXPECT_NE(completed.exit_status, 0) << completed.out;
  EXPECT_NE(completed.err.find("the account is disabled"), std::string::npos) << completed.err;
  // The provider ends the device authorization at once rather than leaving it pending.
  const json answer = poll_token(authorization.at("device_code"));
  EXPECT_EQ(answer.at("error"), "access_denied") << answer.dump();
}

TEST_F(OidcFixture, WrongPasswordLeavesTheDevicePending) {
  const json authorization = device_authorization();
  const RunResult completed =
      provider_->complete_device(authorization.at("verification_uri"),
                                 authorization.at("user_code"), "alice", "not-" + alice_password_);
  EXPECT_NE(completed.exit_status, 0) << completed.out;
  EXPECT_NE(completed.err.find("Wrong user name or password"), std::string::npos) << completed.err;
  EXPECT_EQ(poll_token(authorization.at("device_code")).at("error"), "authorization_pending");
}

TEST_F(OidcFixture, ClientWithoutItsSecretIsRefused) {
  const json answer =
      post("device_authorization_endpoint", {"client_id=" + provider_->client_id(), "scope=openid"},
           /*client_auth=*/false);
  EXPECT_EQ(answer.at("error"), "invalid_client") << answer.dump();
}

// The authorization code flow (for the web console) refuses a request without PKCE, and sends
// the browser back to the client with the error rather than to a sign-in page.
TEST_F(OidcFixture, AuthorizationCodeFlowRequiresPkce) {
  const std::string redirect = "https://127.0.0.1:1/oidc/callback";
  const std::string query = "?client_id=" + provider_->client_id() +
                            "&response_type=code&scope=openid&state=s1&redirect_uri=" + redirect;
  const std::string endpoint = discovery_.at("authorization_endpoint");
  const RunResult without = provider_->curl(
      {"--output", "/dev/null", "--write-out", "%{redirect_url}", endpoint + query});
  ASSERT_EQ(without.exit_status, 0) << without.err;
  EXPECT_EQ(without.out.rfind(redirect + "?error=invalid_request", 0), 0u) << without.out;
  EXPECT_NE(without.out.find("requires+PKCE"), std::string::npos) << without.out;

  // With a challenge the same request goes on to the sign-in page.
  const RunResult with = provider_->curl(
      {"--output", "/dev/null", "--write-out", "%{redirect_url}",
       endpoint + query + "&code_challenge_method=S256&code_challenge=" + std::string(43, 'A')});
  ASSERT_EQ(with.exit_status, 0) << with.err;
  EXPECT_EQ(with.out.rfind(provider_->issuer() + "/interaction/", 0), 0u) << with.out;
}

TEST_F(OidcFixture, RotatedKeysHaveANewKidThatSignsNewTokens) {
  const std::vector<std::string> before = provider_->jwks_kids();
  ASSERT_EQ(before.size(), 1u);
  provider_->rotate_keys();
  EXPECT_EQ(discovery_, json::parse(provider_->discovery()));  // same issuer, same port
  const std::vector<std::string> after = provider_->jwks_kids();
  ASSERT_EQ(after.size(), 1u);
  EXPECT_NE(after[0], before[0]);

  const json authorization = device_authorization();
  const RunResult completed =
      provider_->complete_device(authorization.at("verification_uri"),
                                 authorization.at("user_code"), "alice", alice_password_);
  ASSERT_EQ(completed.exit_status, 0) << completed.err << provider_->log();
  const json tokens = poll_token(authorization.at("device_code"));
  ASSERT_TRUE(tokens.contains("id_token")) << tokens.dump();
  EXPECT_EQ(jwt_parts(tokens.at("id_token")).first.at("kid"), after[0]);
}

}  // namespace
}  // namespace portcullis::e2e
