// Checking an OpenID Connect ID token (OpenID Connect Core 3.1.3.7): the signature against the
// issuer's published keys with libjwt, then iss, aud, azp, exp, iat, nonce and auth_time.
// Only asymmetric algorithms are accepted: "none" and the HMAC family never are, so a public
// key can never be used as an HMAC secret.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::identity {

// Why a sign-in was refused; `reason` is a short word for audit rows and metrics
// ("bad_signature", "expired", "wrong_audience", ...), what() a sentence for the person.
class SignInError : public std::runtime_error {
 public:
  SignInError(std::string reason, const std::string& message)
      : std::runtime_error(message), reason_(std::move(reason)) {}
  const std::string& reason() const { return reason_; }

 private:
  std::string reason_;
};

// The issuer's signing keys (its JWKS), each as PEM for libjwt. Keys that are not for
// signatures, or of a type we do not take, are skipped.
class KeySet {
 public:
  // Throws SignInError("bad_jwks") when `jwks_json` is not a JWK set.
  static KeySet parse(std::string_view jwks_json);

  struct Key {
    std::string kty;  // "RSA" or "EC"
    std::string alg;  // as published; "" = any of its type
    std::string pem;  // SubjectPublicKeyInfo
  };
  // The key `kid` names; without a kid, the only key of `kty` (nullptr: none or several).
  const Key* find(const std::string& kid, const std::string& kty) const;
  bool empty() const { return keys_.empty(); }
  std::vector<std::string> kids() const;

 private:
  std::map<std::string, Key> keys_;  // by kid ("" for a key published without one)
};

struct TokenRules {
  std::string issuer;
  std::string audience;  // our client_id
  std::optional<std::chrono::seconds> max_age;
  std::optional<std::string> nonce;  // when the request sent one
  std::chrono::system_clock::time_point now;
  std::chrono::seconds leeway{60};  // clock skew between the IdP and us
};

struct Claims {
  std::string subject;
  std::string issuer;
  std::optional<std::int64_t> auth_time;
  std::string payload_json;  // the whole payload, for the claims the caller names
};

// The kid in a token's header ("" if none), for deciding to refetch the keys first.
// Throws SignInError("malformed") for something that is not a JWS compact token.
std::string token_key_id(std::string_view token);

Claims verify_id_token(std::string_view token, const KeySet& keys, const TokenRules& rules);

}  // namespace portcullis::identity
