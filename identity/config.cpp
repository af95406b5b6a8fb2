#include "identity/config.h"

#include <stdexcept>

#include "common/common.h"

namespace portcullis {
namespace {

std::string check_issuer(std::string_view text) {
  std::string issuer(text);
  while (issuer.ends_with('/')) issuer.pop_back();
  if (!issuer.starts_with("https://") || issuer.size() <= 8 || issuer.size() > 512) {
    throw std::invalid_argument("\"" + std::string(text) +
                                "\" is not an https:// URL (the issuer of the ID tokens, e.g. "
                                "https://idp.example.com/realms/corp)");
  }
  for (unsigned char c : issuer) {
    if (c <= ' ' || c >= 0x7f) {
      throw std::invalid_argument("the issuer holds a space or a character a URL cannot");
    }
  }
  return issuer;
}

std::string check_claim_name(std::string_view text) {
  if (text.size() > 100) throw std::invalid_argument("a claim name is at most 100 characters");
  return std::string(text);
}

OidcConfig::Provision parse_provision(std::string_view text) {
  if (text == "existing") return OidcConfig::Provision::existing;
  if (text == "create") return OidcConfig::Provision::create;
  throw std::invalid_argument("\"" + std::string(text) + "\" is not existing or create");
}

std::chrono::seconds parse_max_age(std::string_view text) {
  const std::chrono::seconds age = parse_duration(text);
  if (age < std::chrono::minutes(1)) throw std::invalid_argument("max_age is at least 1m");
  return age;
}

constexpr ConfigKey<OidcConfig> kOidcKeys[] = {
    {"issuer", [](const ConfigValue& v, OidcConfig& o) { o.issuer = v.parsed(check_issuer); }},
    {"client_id", [](const ConfigValue& v, OidcConfig& o) { o.client_id = v.string(); }},
    {"client_secret_file",
     [](const ConfigValue& v, OidcConfig& o) { o.client_secret_file = v.path(); }},
    {"scopes", [](const ConfigValue& v, OidcConfig& o) { o.scopes = v.strings(); }},
    {"username_claim",
     [](const ConfigValue& v, OidcConfig& o) { o.username_claim = v.parsed(check_claim_name); }},
    {"groups_claim",
     [](const ConfigValue& v, OidcConfig& o) { o.groups_claim = v.parsed(check_claim_name); }},
    {"role_map", [](const ConfigValue& v, OidcConfig& o) { o.role_map = v.string_lists_by_key(); }},
    {"max_age", [](const ConfigValue& v, OidcConfig& o) { o.max_age = v.parsed(parse_max_age); }},
    {"provision",
     [](const ConfigValue& v, OidcConfig& o) { o.provision = v.parsed(parse_provision); }},
    {"ca_file", [](const ConfigValue& v, OidcConfig& o) { o.ca_file = v.path(); }},
};

}  // namespace

void declare_identity_config(ConfigSchema& schema, OidcConfig& oidc) {
  schema.table("identity.oidc", oidc, kOidcKeys);
}

}  // namespace portcullis
