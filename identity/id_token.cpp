#include "identity/id_token.h"

#include <jwt.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <sodium.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>

namespace portcullis::identity {
namespace {

using json = nlohmann::json;

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* handle) const {
    Free(handle);
  }
};
using Bignum = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using ParamBuilder = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD_free>>;
using Params = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM_free>>;
using KeyContext = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>>;
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO_free>>;
using Jwt = std::unique_ptr<jwt_t, Deleter<jwt_free>>;

constexpr std::size_t kMaxTokenBytes = 16 * 1024;
constexpr std::size_t kMaxKeys = 64;
constexpr int kMinRsaBits = 2048;

std::string base64url_decode(std::string_view text, const char* what) {
  std::string out(text.size(), '\0');
  std::size_t length = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &length, nullptr,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
    throw SignInError("malformed", std::string(what) + " is not base64url");
  }
  out.resize(length);
  return out;
}

json parse_object(const std::string& text, const char* what) {
  json value = json::parse(text, nullptr, false);
  if (!value.is_object())
    throw SignInError("malformed", std::string(what) + " is not a JSON object");
  return value;
}

std::string string_member(const json& object, const char* name) {
  const auto found = object.find(name);
  return found != object.end() && found->is_string() ? found->get<std::string>() : std::string();
}

// The PEM of an OpenSSL public key built from `params` (OpenSSL 3 "fromdata").
std::string public_key_pem(const char* type, OSSL_PARAM_BLD* builder) {
  Params params(OSSL_PARAM_BLD_to_param(builder));
  KeyContext context(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !context || EVP_PKEY_fromdata_init(context.get()) != 1 ||
      EVP_PKEY_fromdata(context.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    throw SignInError("bad_jwks", "the identity provider publishes a key OpenSSL cannot read");
  }
  Key key(raw);
  if (std::string(type) == "RSA" && EVP_PKEY_get_bits(key.get()) < kMinRsaBits) {
    throw SignInError("bad_jwks", "the identity provider publishes an RSA key under 2048 bits");
  }
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key.get()) != 1) {
    throw SignInError("bad_jwks", "cannot write a key of the identity provider");
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

Bignum bignum(const std::string& bytes) {
  return Bignum(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()), nullptr));
}

std::string rsa_pem(const json& jwk) {
  Bignum n = bignum(base64url_decode(string_member(jwk, "n"), "an RSA key's n"));
  Bignum e = bignum(base64url_decode(string_member(jwk, "e"), "an RSA key's e"));
  ParamBuilder builder(OSSL_PARAM_BLD_new());
  if (!n || !e || !builder ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
    throw SignInError("bad_jwks", "an RSA key of the identity provider is incomplete");
  }
  return public_key_pem("RSA", builder.get());
}

std::string ec_pem(const json& jwk) {
  const std::string crv = string_member(jwk, "crv");
  const std::pair<const char*, std::size_t> curve = crv == "P-256"   ? std::pair{"prime256v1", 32}
                                                    : crv == "P-384" ? std::pair{"secp384r1", 48}
                                                    : crv == "P-521" ? std::pair{"secp521r1", 66}
                                                                     : std::pair{"", 0};
  if (curve.second == 0) throw SignInError("bad_jwks", "an EC key is on an unsupported curve");
  const std::string x = base64url_decode(string_member(jwk, "x"), "an EC key's x");
  const std::string y = base64url_decode(string_member(jwk, "y"), "an EC key's y");
  if (x.size() != curve.second || y.size() != curve.second) {
    throw SignInError("bad_jwks", "an EC key's coordinates have the wrong length");
  }
  const std::string point = '\x04' + x + y;  // uncompressed
  ParamBuilder builder(OSSL_PARAM_BLD_new());
  if (!builder ||
      OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, curve.first, 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    throw SignInError("bad_jwks", "an EC key of the identity provider is incomplete");
  }
  return public_key_pem("EC", builder.get());
}

// The algorithms we accept and the key type each needs: asymmetric only.
std::string key_type_for(const std::string& alg) {
  static const char* const kRsa[] = {"RS256", "RS384", "RS512"};
  static const char* const kEc[] = {"ES256", "ES384", "ES512"};
  if (std::find(std::begin(kRsa), std::end(kRsa), alg) != std::end(kRsa)) return "RSA";
  if (std::find(std::begin(kEc), std::end(kEc), alg) != std::end(kEc)) return "EC";
  return "";
}

struct TokenParts {
  std::string_view header, payload, signature;
};

TokenParts split(std::string_view token) {
  if (token.size() > kMaxTokenBytes) throw SignInError("malformed", "the ID token is too long");
  const std::size_t first = token.find('.');
  const std::size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    throw SignInError("malformed", "the ID token is not a signed JWT (three parts)");
  }
  return {token.substr(0, first), token.substr(first + 1, second - first - 1),
          token.substr(second + 1)};
}

std::int64_t seconds_since_epoch(std::chrono::system_clock::time_point at) {
  return std::chrono::duration_cast<std::chrono::seconds>(at.time_since_epoch()).count();
}

std::optional<std::int64_t> number_member(const json& object, const char* name) {
  const auto found = object.find(name);
  if (found == object.end()) return std::nullopt;
  if (!found->is_number())
    throw SignInError("malformed", std::string("'") + name + "' is not a number");
  return found->is_number_integer() ? found->get<std::int64_t>()
                                    : static_cast<std::int64_t>(found->get<double>());
}

void check_audience(const json& payload, const TokenRules& rules) {
  const auto aud = payload.find("aud");
  bool ours = false;
  std::size_t count = 0;
  if (aud != payload.end() && aud->is_string()) {
    ours = aud->get<std::string>() == rules.audience;
    count = 1;
  } else if (aud != payload.end() && aud->is_array()) {
    count = aud->size();
    ours = std::any_of(aud->begin(), aud->end(), [&](const json& a) {
      return a.is_string() && a.get<std::string>() == rules.audience;
    });
  }
  if (!ours) {
    throw SignInError("wrong_audience",
                      "the ID token was issued for another client, not " + rules.audience);
  }
  if (count > 1 && string_member(payload, "azp") != rules.audience) {
    throw SignInError("wrong_audience", "the ID token's authorized party is not " + rules.audience);
  }
}

void check_times(const json& payload, const TokenRules& rules, Claims& claims) {
  const std::int64_t now = seconds_since_epoch(rules.now);
  const std::int64_t leeway = rules.leeway.count();
  const std::optional<std::int64_t> exp = number_member(payload, "exp");
  const std::optional<std::int64_t> iat = number_member(payload, "iat");
  if (!exp || !iat) throw SignInError("malformed", "the ID token has no exp or iat");
  if (*exp + leeway <= now) throw SignInError("expired", "the ID token has expired");
  if (*iat - leeway > now)
    throw SignInError("not_yet_valid", "the ID token was issued in the future");
  claims.auth_time = number_member(payload, "auth_time");
  if (!rules.max_age) return;
  if (!claims.auth_time) {
    throw SignInError("too_old",
                      "the identity provider did not say when the sign-in happened "
                      "(auth_time), and max_age asks for it");
  }
  if (*claims.auth_time + rules.max_age->count() + leeway < now) {
    throw SignInError("too_old",
                      "the sign-in at the identity provider is older than max_age; sign in there "
                      "again");
  }
}

}  // namespace

KeySet KeySet::parse(std::string_view jwks_json) {
  const json set = json::parse(jwks_json, nullptr, false);
  const auto keys = set.is_object() ? set.find("keys") : set.end();
  if (keys == set.end() || !keys->is_array()) {
    throw SignInError("bad_jwks", "the identity provider's jwks_uri did not answer a JWK set");
  }
  KeySet result;
  for (const json& jwk : *keys) {
    if (result.keys_.size() >= kMaxKeys) break;
    if (!jwk.is_object()) continue;
    const std::string use = string_member(jwk, "use");
    if (!use.empty() && use != "sig") continue;
    Key key{string_member(jwk, "kty"), string_member(jwk, "alg"), ""};
    try {
      if (key.kty == "RSA") {
        key.pem = rsa_pem(jwk);
      } else if (key.kty == "EC") {
        key.pem = ec_pem(jwk);
      } else {
        continue;
      }
    } catch (const SignInError&) {
      continue;  // one unreadable key does not take the others with it
    }
    result.keys_.emplace(string_member(jwk, "kid"), std::move(key));
  }
  return result;
}

const KeySet::Key* KeySet::find(const std::string& kid, const std::string& kty) const {
  if (!kid.empty()) {
    const auto found = keys_.find(kid);
    return found != keys_.end() && found->second.kty == kty ? &found->second : nullptr;
  }
  const Key* only = nullptr;
  for (const auto& [id, key] : keys_) {
    if (key.kty != kty) continue;
    if (only != nullptr) return nullptr;
    only = &key;
  }
  return only;
}

std::vector<std::string> KeySet::kids() const {
  std::vector<std::string> ids;
  for (const auto& [id, key] : keys_) ids.push_back(id);
  return ids;
}

std::string token_key_id(std::string_view token) {
  const json header =
      parse_object(base64url_decode(split(token).header, "the token header"), "the token header");
  return string_member(header, "kid");
}

Claims verify_id_token(std::string_view token, const KeySet& keys, const TokenRules& rules) {
  const TokenParts parts = split(token);
  const json header =
      parse_object(base64url_decode(parts.header, "the token header"), "the token header");
  const std::string alg = string_member(header, "alg");
  const std::string kty = key_type_for(alg);
  if (kty.empty()) {
    throw SignInError("bad_algorithm", "the ID token is signed with \"" + alg.substr(0, 20) +
                                           "\"; only RS256/384/512 and ES256/384/512 are accepted");
  }
  if (header.contains("crit")) {
    throw SignInError("malformed", "the ID token has critical header parameters we do not know");
  }
  const KeySet::Key* key = keys.find(string_member(header, "kid"), kty);
  if (key == nullptr) {
    throw SignInError("unknown_key",
                      "the ID token is signed by a key the identity provider does not publish");
  }
  if (!key->alg.empty() && key->alg != alg) {
    throw SignInError("bad_algorithm", "the ID token's algorithm is not its key's");
  }
  const std::string text(token);
  jwt_t* raw = nullptr;
  const int failed =
      jwt_decode(&raw, text.c_str(), reinterpret_cast<const unsigned char*>(key->pem.data()),
                 static_cast<int>(key->pem.size()));
  Jwt decoded(raw);
  if (failed != 0 || !decoded || jwt_get_alg(decoded.get()) != jwt_str_alg(alg.c_str())) {
    throw SignInError("bad_signature", "the ID token's signature does not verify");
  }
  Claims claims;
  claims.payload_json = base64url_decode(parts.payload, "the token payload");
  const json payload = parse_object(claims.payload_json, "the token payload");
  claims.issuer = string_member(payload, "iss");
  if (claims.issuer != rules.issuer) {
    throw SignInError("wrong_issuer", "the ID token was issued by another issuer");
  }
  check_audience(payload, rules);
  check_times(payload, rules, claims);
  if (rules.nonce && string_member(payload, "nonce") != *rules.nonce) {
    throw SignInError("wrong_nonce", "the ID token does not answer this sign-in (nonce)");
  }
  claims.subject = string_member(payload, "sub");
  if (claims.subject.empty()) throw SignInError("malformed", "the ID token names no subject");
  return claims;
}

}  // namespace portcullis::identity
