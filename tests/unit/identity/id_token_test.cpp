// ID token checks against tokens signed here with real keys (OpenSSL makes them, libjwt signs):
// every refusal the issue names (another audience, expired, an unknown key, a sign-in older
// than max_age) and the algorithm confusions an attacker would try.
#include "identity/id_token.h"

#include <gtest/gtest.h>
#include <jwt.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <sodium.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

#include "identity/oidc.h"

namespace portcullis::identity {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kIssuer = "https://idp.example.com";
constexpr const char* kClient = "portcullis";

std::string base64url(const unsigned char* data, std::size_t size) {
  std::string out(sodium_base64_encoded_len(size, sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), data, size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::string bn_base64url(EVP_PKEY* key, const char* name, std::size_t pad_to = 0) {
  BIGNUM* bn = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(key, name, &bn), 1);
  std::vector<unsigned char> bytes(std::max<std::size_t>(BN_num_bytes(bn), pad_to));
  BN_bn2binpad(bn, bytes.data(), static_cast<int>(bytes.size()));
  BN_free(bn);
  return base64url(bytes.data(), bytes.size());
}

struct SigningKey {
  std::string private_pem;
  std::string public_pem;
  json jwk;
};

std::string pem_of(EVP_PKEY* key, bool private_part) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (private_part) {
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  } else {
    PEM_write_bio_PUBKEY(bio, key);
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(size));
  BIO_free(bio);
  return pem;
}

SigningKey rsa_key(const std::string& kid, unsigned bits = 2048) {
  EVP_PKEY* key = EVP_RSA_gen(bits);
  SigningKey made{pem_of(key, true), pem_of(key, false),
                  json{{"kty", "RSA"},
                       {"kid", kid},
                       {"use", "sig"},
                       {"alg", "RS256"},
                       {"n", bn_base64url(key, OSSL_PKEY_PARAM_RSA_N)},
                       {"e", bn_base64url(key, OSSL_PKEY_PARAM_RSA_E)}}};
  EVP_PKEY_free(key);
  return made;
}

SigningKey ec_key(const std::string& kid) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  SigningKey made{pem_of(key, true), pem_of(key, false),
                  json{{"kty", "EC"},
                       {"kid", kid},
                       {"crv", "P-256"},
                       {"x", bn_base64url(key, OSSL_PKEY_PARAM_EC_PUB_X, 32)},
                       {"y", bn_base64url(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32)}}};
  EVP_PKEY_free(key);
  return made;
}

// A token signed with `key_pem` (a private key, or an HMAC secret for HS256).
std::string sign(const std::string& alg, const std::string& key_pem, const std::string& kid,
                 const json& payload) {
  jwt_t* jwt = nullptr;
  EXPECT_EQ(jwt_new(&jwt), 0);
  EXPECT_EQ(jwt_add_grants_json(jwt, payload.dump().c_str()), 0);
  if (!kid.empty()) {
    EXPECT_EQ(jwt_add_header(jwt, "kid", kid.c_str()), 0);
  }
  EXPECT_EQ(jwt_set_alg(jwt, jwt_str_alg(alg.c_str()),
                        reinterpret_cast<const unsigned char*>(key_pem.data()),
                        static_cast<int>(key_pem.size())),
            0);
  char* encoded = jwt_encode_str(jwt);
  std::string token = encoded == nullptr ? "" : encoded;
  std::free(encoded);  // NOLINT: libjwt 1.10 allocates it with malloc
  jwt_free(jwt);
  return token;
}

std::int64_t epoch(std::chrono::system_clock::time_point at) {
  return std::chrono::duration_cast<std::chrono::seconds>(at.time_since_epoch()).count();
}

class IdTokenTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GE(sodium_init(), 0); }

  json payload() const {
    return {{"iss", kIssuer},          {"aud", kClient},
            {"sub", "user-1"},         {"preferred_username", "alice"},
            {"groups", {"sre"}},       {"iat", epoch(now) - 10},
            {"exp", epoch(now) + 300}, {"auth_time", epoch(now) - 60}};
  }
  KeySet keys() const { return KeySet::parse(json{{"keys", {rsa.jwk, ec.jwk}}}.dump()); }
  TokenRules rules() const { return {kIssuer, kClient, std::chrono::hours(1), std::nullopt, now}; }

  // The reason the token is refused, or "" when it is accepted.
  std::string refusal(const std::string& token, const TokenRules& with) const {
    try {
      verify_id_token(token, keys(), with);
      return "";
    } catch (const SignInError& e) {
      return e.reason();
    }
  }
  std::string refusal(const std::string& token) const { return refusal(token, rules()); }

  std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
  SigningKey rsa = rsa_key("rsa-1");
  SigningKey ec = ec_key("ec-1");
};

TEST_F(IdTokenTest, AcceptsTokensSignedByThePublishedKeys) {
  const Claims claims =
      verify_id_token(sign("RS256", rsa.private_pem, "rsa-1", payload()), keys(), rules());
  EXPECT_EQ(claims.subject, "user-1");
  EXPECT_EQ(claims.issuer, kIssuer);
  EXPECT_EQ(json::parse(claims.payload_json)["preferred_username"], "alice");
  EXPECT_EQ(refusal(sign("ES256", ec.private_pem, "ec-1", payload())), "");
  // An audience list holding ours, with ours as the authorized party.
  json listed = payload();
  listed["aud"] = {"other", kClient};
  listed["azp"] = kClient;
  EXPECT_EQ(refusal(sign("RS256", rsa.private_pem, "rsa-1", listed)), "");
}

TEST_F(IdTokenTest, RefusesAnotherAudienceIssuerOrNonce) {
  json other = payload();
  other["aud"] = "another-client";
  EXPECT_EQ(refusal(sign("RS256", rsa.private_pem, "rsa-1", other)), "wrong_audience");
  other["aud"] = {"another-client", kClient};  // listed, but issued to the other one
  other["azp"] = "another-client";
  EXPECT_EQ(refusal(sign("RS256", rsa.private_pem, "rsa-1", other)), "wrong_audience");
  json issuer = payload();
  issuer["iss"] = "https://evil.example.com";
  EXPECT_EQ(refusal(sign("RS256", rsa.private_pem, "rsa-1", issuer)), "wrong_issuer");
  TokenRules with_nonce = rules();
  with_nonce.nonce = "n-0S6_WzA2Mj";
  EXPECT_EQ(refusal(sign("RS256", rsa.private_pem, "rsa-1", payload()), with_nonce), "wrong_nonce");
}

TEST_F(IdTokenTest, RefusesExpiredFutureAndStaleSignIns) {
  json expired = payload();
  expired["exp"] = epoch(now) - 120;  // beyond the 60 s leeway
  EXPECT_EQ(refusal(sign("RS256", rsa.private_pem, "rsa-1", expired)), "expired");
  json future = payload();
  future["iat"] = epoch(now) + 3600;
  EXPECT_EQ(refusal(sign("RS256", rsa.private_pem, "rsa-1", future)), "not_yet_valid");
  json stale = payload();
  stale["auth_time"] = epoch(now) - 7200;  // max_age is 1h
  EXPECT_EQ(refusal(sign("RS256", rsa.private_pem, "rsa-1", stale)), "too_old");
  json no_auth_time = payload();
  no_auth_time.erase("auth_time");
  EXPECT_EQ(refusal(sign("RS256", rsa.private_pem, "rsa-1", no_auth_time)), "too_old");
  TokenRules any_age = rules();
  any_age.max_age.reset();
  EXPECT_EQ(refusal(sign("RS256", rsa.private_pem, "rsa-1", no_auth_time), any_age), "");
}

TEST_F(IdTokenTest, RefusesUnknownKeysAndForgedSignatures) {
  const SigningKey stranger = rsa_key("rsa-1");  // same kid, another key
  EXPECT_EQ(refusal(sign("RS256", stranger.private_pem, "rsa-1", payload())), "bad_signature");
  EXPECT_EQ(refusal(sign("RS256", stranger.private_pem, "rsa-2", payload())), "unknown_key");
  // An EC token naming the RSA key's kid.
  EXPECT_EQ(refusal(sign("ES256", ec.private_pem, "rsa-1", payload())), "unknown_key");
  // A payload changed after signing.
  std::string token = sign("RS256", rsa.private_pem, "rsa-1", payload());
  json changed = payload();
  changed["preferred_username"] = "root";
  const std::string body = changed.dump();
  const std::size_t first = token.find('.');
  const std::size_t second = token.find('.', first + 1);
  token = token.substr(0, first + 1) +
          base64url(reinterpret_cast<const unsigned char*>(body.data()), body.size()) +
          token.substr(second);
  EXPECT_EQ(refusal(token), "bad_signature");
}

TEST_F(IdTokenTest, RefusesNoneAndHmacEvenWithThePublicKeyAsSecret) {
  // The classic confusion: HS256 with the published public key as the HMAC secret.
  EXPECT_EQ(refusal(sign("HS256", rsa.public_pem, "rsa-1", payload())), "bad_algorithm");
  // alg "none": header and payload with an empty signature.
  const std::string header = R"({"alg":"none","kid":"rsa-1"})";
  const std::string body = payload().dump();
  const std::string unsigned_token =
      base64url(reinterpret_cast<const unsigned char*>(header.data()), header.size()) + "." +
      base64url(reinterpret_cast<const unsigned char*>(body.data()), body.size()) + ".";
  EXPECT_EQ(refusal(unsigned_token), "bad_algorithm");
  EXPECT_EQ(refusal("not.a-token"), "malformed");
  EXPECT_EQ(refusal(std::string(20000, 'a') + ".b.c"), "malformed");
}

TEST_F(IdTokenTest, KeySetSkipsWeakAndUnusableKeys) {
  const SigningKey weak = rsa_key("weak", 1024);
  json encryption = rsa.jwk;
  encryption["use"] = "enc";
  encryption["kid"] = "enc-1";
  const KeySet set = KeySet::parse(json{{"keys", {weak.jwk, encryption, ec.jwk, "junk"}}}.dump());
  EXPECT_EQ(set.kids(), std::vector<std::string>{"ec-1"});
  EXPECT_EQ(set.find("", "EC") != nullptr, true);  // the only EC key, without a kid
  EXPECT_THROW(KeySet::parse(R"({"no":"keys"})"), SignInError);
}

TEST(OidcRoles, GroupsMapToSortedRolesWithoutRepeats) {
  OidcConfig config;
  config.role_map = {
      {"sre", {"dev"}}, {"sre-leads", {"approver", "dev"}}, {"security", {"auditor"}}};
  EXPECT_EQ(roles_for_groups(config, {"sre-leads", "sre", "marketing"}),
            (std::vector<std::string>{"approver", "dev"}));
  EXPECT_TRUE(roles_for_groups(config, {"marketing"}).empty());
}

}  // namespace
}  // namespace portcullis::identity
