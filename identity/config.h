// [identity.oidc]: signing in through the company's OpenID Connect provider (docs/sso.md).
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/config.h"

namespace portcullis {

struct OidcConfig {
  // https://idp.example.com/realms/corp; discovery at ISSUER/.well-known/openid-configuration.
  // "" = no OIDC sign-in.
  std::string issuer;
  std::string client_id;
  // The client secret, read at start (0600 or 0400); empty = a public client.
  std::filesystem::path client_secret_file;
  std::vector<std::string> scopes{"openid", "profile"};  // "openid" is always sent
  std::string username_claim = "preferred_username";
  std::string groups_claim = "groups";
  // IdP group -> Portcullis roles, by group name.
  std::vector<std::pair<std::string, std::vector<std::string>>> role_map;
  // How long ago the person may have signed in at the IdP (the ID token's auth_time).
  std::optional<std::chrono::seconds> max_age;
  enum class Provision { existing, create };
  Provision provision = Provision::existing;
  // Certificates to trust for the IdP instead of the system's (a private PKI).
  std::filesystem::path ca_file;

  bool enabled() const { return !issuer.empty(); }
  bool operator==(const OidcConfig&) const = default;
};

void declare_identity_config(ConfigSchema& schema, OidcConfig& oidc);

}  // namespace portcullis
