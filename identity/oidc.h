// Signing in through an OpenID Connect provider: discovery, the issuer's keys (cached, fetched
// again when a token names a key we have not seen: key rotation), and the OAuth 2.0 Device
// Authorization Grant (RFC 8628) that lets a plain ssh client sign in, and the authorization code
// flow with PKCE (RFC 7636, OIDC Core 3.1) that the web console's browser uses. Every call may
// block on
// the network (10 s at most each): call from a worker thread, never an event loop.
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "identity/config.h"
#include "identity/id_token.h"

namespace portcullis::identity {

struct DeviceAuthorization {
  std::string device_code;  // secret: never logged
  std::string user_code;
  std::string verification_uri;
  std::string verification_uri_complete;  // "" when the IdP sends none
  std::chrono::seconds expires_in{600};
  std::chrono::seconds interval{5};
};

// Who signed in, as the IdP says.
struct SignIn {
  std::string subject;
  std::string username;  // the username_claim
  std::vector<std::string> groups;
  std::vector<std::string> roles;  // groups through role_map, sorted, no repeats
  std::optional<std::int64_t> auth_time;
};

struct TokenPoll {
  enum class State { pending, slow_down, signed_in };
  State state = State::pending;
  SignIn sign_in;  // when signed_in
};

class OidcClient {
 public:
  // `client_secret` is empty for a public client.
  OidcClient(OidcConfig config, std::string client_secret);
  // Reads [identity.oidc] client_secret_file (refused unless only its owner may read it).
  // Throws std::runtime_error saying what to fix.
  static std::shared_ptr<OidcClient> from_config(const OidcConfig& config);

  const OidcConfig& config() const { return config_; }

  // Asks the IdP for a user code. Throws SignInError ("idp_unavailable", "idp_refused").
  DeviceAuthorization start_device_authorization();
  // One look at the token endpoint. Throws SignInError: "access_denied", "expired_token", or
  // any refusal of the ID token (verify()).
  TokenPoll poll_device_token(const std::string& device_code);
  // Checks an ID token (the keys fetched again once if it names an unknown one) and reads
  // the user's name and groups from it.
  SignIn verify(const std::string& id_token, const std::optional<std::string>& nonce);

  // The IdP's authorization endpoint with a code flow request: the browser goes there to sign
  // in and comes back to `redirect_uri` with ?code=&state=. `state`, `nonce` and
  // `code_verifier` are the caller's fresh secrets (kept for exchange_code). Throws
  // SignInError ("idp_unavailable", "idp_refused") when discovery fails.
  std::string authorization_url(const std::string& redirect_uri, const std::string& state,
                                const std::string& nonce, const std::string& code_verifier);
  // Trades the code the browser brought back for tokens and checks the ID token (`nonce` must
  // be the one sent). Throws SignInError: "idp_refused" (among others for a used, expired or
  // stolen code: the IdP answers invalid_grant) or any refusal of verify().
  SignIn exchange_code(const std::string& code, const std::string& code_verifier,
                       const std::string& redirect_uri, const std::string& nonce);

  // The key ids now cached (for tests and `portcullis` diagnostics).
  std::vector<std::string> cached_key_ids() const;

 private:
  struct Endpoints {
    std::string authorization;         // "" when the IdP offers no code flow
    std::string device_authorization;  // "" when it offers no device flow
    std::string token;
    std::string jwks_uri;
  };
  Endpoints endpoints();
  KeySet keys_for(const std::string& kid);
  std::string scope() const;
  std::string post_form(const std::string& url, const std::vector<std::string>& fields,
                        long& status);

  const OidcConfig config_;
  const std::string client_secret_;
  mutable std::mutex mutex_;
  std::optional<Endpoints> endpoints_;
  std::optional<KeySet> keys_;
  std::chrono::steady_clock::time_point keys_fetched_;
};

// The PKCE S256 challenge of `verifier` (RFC 7636 4.2): BASE64URL(SHA256(verifier)), unpadded.
std::string pkce_challenge(const std::string& verifier);

// Groups through `role_map`: the union of the roles each group maps to, sorted.
std::vector<std::string> roles_for_groups(const OidcConfig& config,
                                          const std::vector<std::string>& groups);

}  // namespace portcullis::identity
