#include "identity/oidc.h"

#include <sodium.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "identity/http.h"

namespace portcullis::identity {
namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxGroups = 1000;
constexpr std::size_t kMaxGroupChars = 256;
constexpr std::size_t kMaxShownChars = 512;
// A token naming an unknown key makes us fetch the keys again, but not more often than this:
// a stream of made-up kids must not become a stream of requests to the IdP.
constexpr std::chrono::seconds kMinKeyRefetch{5};
constexpr std::chrono::hours kKeysMaxAge{1};

json parse_answer(const HttpAnswer& answer, const std::string& what) {
  json value = json::parse(answer.body, nullptr, false);
  if (!value.is_object()) {
    throw SignInError("idp_refused", "the identity provider's " + what + " answered HTTP " +
                                         std::to_string(answer.status) + " without JSON");
  }
  return value;
}

std::string text_member(const json& object, const char* name) {
  const auto found = object.find(name);
  return found != object.end() && found->is_string() ? found->get<std::string>() : std::string();
}

// Text the IdP sends that a person will read on their terminal: printable ASCII only, bounded.
std::string shown_text(const json& object, const char* name) {
  std::string text = text_member(object, name);
  if (text.size() > kMaxShownChars ||
      std::any_of(text.begin(), text.end(), [](char c) { return c <= ' ' || c >= 0x7f; })) {
    throw SignInError("idp_refused", std::string("the identity provider sent an unusable ") + name);
  }
  return text;
}

std::chrono::seconds seconds_member(const json& object, const char* name,
                                    std::chrono::seconds fallback, std::chrono::seconds max) {
  const auto found = object.find(name);
  if (found == object.end() || !found->is_number_integer()) return fallback;
  const std::int64_t value = found->get<std::int64_t>();
  if (value <= 0) return fallback;
  return std::min(std::chrono::seconds(value), max);
}

std::string read_secret(const std::filesystem::path& file) {
  struct stat info {};
  if (::stat(file.c_str(), &info) != 0) {
    throw std::runtime_error("[identity.oidc] client_secret_file " + file.string() +
                             " cannot be read; create it (mode 0600) or remove the key for a "
                             "public client");
  }
  if ((info.st_mode & 077) != 0) {
    throw std::runtime_error("[identity.oidc] client_secret_file " + file.string() +
                             " may be read by others; run chmod 600 on it");
  }
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  std::string secret = text.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.empty() || secret.size() > 4096) {
    throw std::runtime_error("[identity.oidc] client_secret_file " + file.string() +
                             " is empty or too long");
  }
  return secret;
}

std::vector<std::string> groups_of(const json& payload, const std::string& claim) {
  std::vector<std::string> groups;
  const auto found = payload.find(claim);
  if (found == payload.end()) return groups;
  const json list = found->is_array() ? *found : json::array({*found});
  for (const json& group : list) {
    if (!group.is_string()) continue;
    std::string name = group.get<std::string>();
    if (name.empty() || name.size() > kMaxGroupChars) continue;
    groups.push_back(std::move(name));
    if (groups.size() >= kMaxGroups) break;
  }
  return groups;
}

// The ID token of a token endpoint's 200 answer.
std::string id_token_of(const json& answer) {
  std::string id_token = text_member(answer, "id_token");
  if (id_token.empty()) {
    throw SignInError("idp_refused",
                      "the identity provider sent no ID token (is \"openid\" among "
                      "the client's scopes?)");
  }
  return id_token;
}

}  // namespace

std::string pkce_challenge(const std::string& verifier) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(verifier.data()),
                     verifier.size());
  char text[sodium_base64_ENCODED_LEN(crypto_hash_sha256_BYTES,
                                      sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(text, sizeof text, digest, sizeof digest,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return text;
}

std::vector<std::string> roles_for_groups(const OidcConfig& config,
                                          const std::vector<std::string>& groups) {
  std::set<std::string> roles;
  for (const auto& [group, mapped] : config.role_map) {
    if (std::find(groups.begin(), groups.end(), group) != groups.end()) {
      roles.insert(mapped.begin(), mapped.end());
    }
  }
  return {roles.begin(), roles.end()};
}

OidcClient::OidcClient(OidcConfig config, std::string client_secret)
    : config_(std::move(config)), client_secret_(std::move(client_secret)) {}

std::shared_ptr<OidcClient> OidcClient::from_config(const OidcConfig& config) {
  if (config.client_id.empty()) {
    throw std::runtime_error("[identity.oidc] needs client_id: the client registered at " +
                             config.issuer);
  }
  std::string secret;
  if (!config.client_secret_file.empty()) secret = read_secret(config.client_secret_file);
  return std::make_shared<OidcClient>(config, std::move(secret));
}

OidcClient::Endpoints OidcClient::endpoints() {
  {
    std::lock_guard lock(mutex_);
    if (endpoints_) return *endpoints_;
  }
  const HttpAnswer answer = send({config_.issuer + "/.well-known/openid-configuration",
                                  std::nullopt, "", "", config_.ca_file});
  const json document = parse_answer(answer, "discovery document");
  // RFC 8414 3.3: the document must name the very issuer we asked, or anyone serving it could
  // vouch for tokens of another.
  if (answer.status != 200 || text_member(document, "issuer") != config_.issuer) {
    throw SignInError("idp_refused",
                      "the discovery document at " + config_.issuer + " does not name that issuer");
  }
  Endpoints found{text_member(document, "authorization_endpoint"),
                  text_member(document, "device_authorization_endpoint"),
                  text_member(document, "token_endpoint"), text_member(document, "jwks_uri")};
  if (found.token.empty() || found.jwks_uri.empty()) {
    throw SignInError("idp_refused", "the discovery document at " + config_.issuer +
                                         " names no token_endpoint or jwks_uri");
  }
  std::lock_guard lock(mutex_);
  endpoints_ = found;
  return found;
}

std::string OidcClient::post_form(const std::string& url, const std::vector<std::string>& fields,
                                  long& status) {
  std::string body;
  for (const std::string& field : fields) body += (body.empty() ? "" : "&") + field;
  HttpRequest request{url, body, "", "", config_.ca_file};
  if (client_secret_.empty()) {
    *request.form += "&client_id=" + form_encode(config_.client_id);
  } else {
    // client_secret_basic (RFC 6749 2.3.1): both parts form-encoded first.
    request.user = form_encode(config_.client_id);
    request.password = form_encode(client_secret_);
  }
  HttpAnswer answer = send(request);
  status = answer.status;
  return std::move(answer.body);
}

std::string OidcClient::scope() const {
  std::vector<std::string> scopes = config_.scopes;
  if (std::find(scopes.begin(), scopes.end(), "openid") == scopes.end()) {
    scopes.insert(scopes.begin(), "openid");
  }
  std::string scope;
  for (const std::string& s : scopes) scope += (scope.empty() ? "" : " ") + s;
  return scope;
}

DeviceAuthorization OidcClient::start_device_authorization() {
  const Endpoints urls = endpoints();
  if (urls.device_authorization.empty()) {
    throw SignInError("idp_refused",
                      "the identity provider does not offer the device flow "
                      "(no device_authorization_endpoint); enable it for the client");
  }
  std::vector<std::string> fields{"scope=" + form_encode(scope())};
  if (config_.max_age) fields.push_back("max_age=" + std::to_string(config_.max_age->count()));
  long status = 0;
  const std::string body = post_form(urls.device_authorization, fields, status);
  const json answer = parse_answer({status, body}, "device authorization endpoint");
  if (status != 200) {
    throw SignInError("idp_refused", "the identity provider refused the device sign-in: " +
                                         shown_text(answer, "error"));
  }
  DeviceAuthorization device;
  device.device_code = text_member(answer, "device_code");
  device.user_code = shown_text(answer, "user_code");
  device.verification_uri = shown_text(answer, "verification_uri");
  if (device.verification_uri.empty())
    device.verification_uri = shown_text(answer, "verification_url");
  device.verification_uri_complete = shown_text(answer, "verification_uri_complete");
  device.expires_in =
      seconds_member(answer, "expires_in", std::chrono::seconds(600), std::chrono::seconds(1800));
  device.interval =
      seconds_member(answer, "interval", std::chrono::seconds(5), std::chrono::seconds(60));
  if (device.device_code.empty() || device.device_code.size() > 4096 || device.user_code.empty() ||
      !device.verification_uri.starts_with("https://")) {
    throw SignInError("idp_refused",
                      "the identity provider's device authorization answer is "
                      "incomplete (device_code, user_code, https verification_uri)");
  }
  return device;
}

TokenPoll OidcClient::poll_device_token(const std::string& device_code) {
  const Endpoints urls = endpoints();
  long status = 0;
  const std::string body =
      post_form(urls.token,
                {"grant_type=" + form_encode("urn:ietf:params:oauth:grant-type:device_code"),
                 "device_code=" + form_encode(device_code)},
                status);
  const json answer = parse_answer({status, body}, "token endpoint");
  if (status != 200) {
    const std::string error = text_member(answer, "error");
    if (error == "authorization_pending") return {TokenPoll::State::pending, {}};
    if (error == "slow_down") return {TokenPoll::State::slow_down, {}};
    if (error == "access_denied") {
      throw SignInError("access_denied", "the sign-in was refused at the identity provider");
    }
    if (error == "expired_token") {
      throw SignInError("expired_token", "the code expired before anyone signed in with it");
    }
    throw SignInError("idp_refused", "the identity provider's token endpoint answered HTTP " +
                                         std::to_string(status));
  }
  return {TokenPoll::State::signed_in, verify(id_token_of(answer), std::nullopt)};
}

std::string OidcClient::authorization_url(const std::string& redirect_uri, const std::string& state,
                                          const std::string& nonce,
                                          const std::string& code_verifier) {
  const Endpoints urls = endpoints();
  if (!urls.authorization.starts_with("https://")) {
    throw SignInError("idp_refused",
                      "the identity provider names no https authorization_endpoint "
                      "in its discovery document, so browsers cannot sign in there");
  }
  // An endpoint may carry a query of its own (RFC 6749 3.1): ours is appended to it.
  std::string url = urls.authorization;
  url += url.find('?') == std::string::npos ? '?' : '&';
  url += "response_type=code&client_id=" + form_encode(config_.client_id) +
         "&redirect_uri=" + form_encode(redirect_uri) + "&scope=" + form_encode(scope()) +
         "&state=" + form_encode(state) + "&nonce=" + form_encode(nonce) +
         "&code_challenge=" + pkce_challenge(code_verifier) + "&code_challenge_method=S256";
  if (config_.max_age) url += "&max_age=" + std::to_string(config_.max_age->count());
  return url;
}

SignIn OidcClient::exchange_code(const std::string& code, const std::string& code_verifier,
                                 const std::string& redirect_uri, const std::string& nonce) {
  const Endpoints urls = endpoints();
  long status = 0;
  const std::string body = post_form(
      urls.token,
      {"grant_type=authorization_code", "code=" + form_encode(code),
       "redirect_uri=" + form_encode(redirect_uri), "code_verifier=" + form_encode(code_verifier)},
      status);
  const json answer = parse_answer({status, body}, "token endpoint");
  if (status != 200) {
    const std::string error = text_member(answer, "error");
    throw SignInError(
        "idp_refused",
        "the identity provider's token endpoint refused the code (HTTP " + std::to_string(status) +
            (error.empty() ? "" : ", " + shown_text(answer, "error")) + "); sign in again");
  }
  return verify(id_token_of(answer), nonce);
}

KeySet OidcClient::keys_for(const std::string& kid) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mutex_);
    if (keys_) {
      const bool known = keys_->find(kid, "RSA") != nullptr || keys_->find(kid, "EC") != nullptr;
      const bool fresh = now - keys_fetched_ < kKeysMaxAge;
      const bool may_refetch = now - keys_fetched_ >= kMinKeyRefetch;
      if ((known && fresh) || !may_refetch) return *keys_;
    }
  }
  const HttpAnswer answer = send({endpoints().jwks_uri, std::nullopt, "", "", config_.ca_file});
  if (answer.status != 200) {
    throw SignInError("idp_unavailable", "the identity provider's jwks_uri answered HTTP " +
                                             std::to_string(answer.status));
  }
  KeySet keys = KeySet::parse(answer.body);
  std::lock_guard lock(mutex_);
  keys_ = keys;
  keys_fetched_ = now;
  return keys;
}

SignIn OidcClient::verify(const std::string& id_token, const std::optional<std::string>& nonce) {
  const KeySet keys = keys_for(token_key_id(id_token));
  const TokenRules rules{config_.issuer, config_.client_id, config_.max_age, nonce,
                         std::chrono::system_clock::now()};
  const Claims claims = verify_id_token(id_token, keys, rules);
  const json payload = json::parse(claims.payload_json);
  SignIn sign_in;
  sign_in.subject = claims.subject;
  sign_in.auth_time = claims.auth_time;
  sign_in.username = text_member(payload, config_.username_claim.c_str());
  if (sign_in.username.empty()) {
    throw SignInError("no_username", "the ID token has no " + config_.username_claim +
                                         " claim (see username_claim in docs/sso.md)");
  }
  sign_in.groups = groups_of(payload, config_.groups_claim);
  sign_in.roles = roles_for_groups(config_, sign_in.groups);
  return sign_in;
}

std::vector<std::string> OidcClient::cached_key_ids() const {
  std::lock_guard lock(mutex_);
  return keys_ ? keys_->kids() : std::vector<std::string>{};
}

}  // namespace portcullis::identity
