// An SSO sign-in applied to the user it names: created when the config allows it, bound to the
// IdP account on first use, refused when disabled, roles replaced by the mapped groups.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "access/queries.h"

namespace portcullis::access {
namespace {

constexpr std::size_t kMaxAuditedGroups = 50;

std::vector<std::string> valid_roles(const std::vector<std::string>& roles) {
  std::vector<std::string> valid;
  for (const std::string& role : roles) {
    try {
      detail::check_name("role", role);
      valid.push_back(role);
    } catch (const AccessError&) {
      // role_map is the administrator's; a role it names that is not a valid name is skipped.
    }
  }
  return valid;
}

}  // namespace

User apply_sso_sign_in(pqxx::work& tx, const SsoSignIn& sign_in) {
  const std::string object = "user:" + sign_in.username;
  const std::vector<std::string> roles = valid_roles(sign_in.roles);
  pqxx::result row = tx.exec_params(
      "SELECT id, disabled, sso_issuer, sso_subject, array_to_json(roles)::text FROM users"
      " WHERE name = $1 FOR UPDATE",
      sign_in.username);
  if (row.empty()) {
    if (!sign_in.create_missing) {
      throw AccessError("there is no Portcullis user " + sign_in.username +
                        "; ask an administrator to add one (or to set [identity.oidc] provision "
                        "= \"create\")");
    }
    detail::check_name("user name", sign_in.username);
    tx.exec_params(
        "INSERT INTO users (name, roles, sso_issuer, sso_subject)"
        " VALUES ($1, ARRAY(SELECT jsonb_array_elements_text($2::jsonb)), $3, $4)",
        sign_in.username, nlohmann::json(roles).dump(), sign_in.issuer, sign_in.subject);
    audit(tx, object, "user.add", object,
          nlohmann::json{{"roles", roles},
                         {"provisioned_by", "sso"},
                         {"issuer", sign_in.issuer},
                         {"subject", sign_in.subject}}
              .dump());
  } else {
    if (row[0][1].as<bool>()) {
      throw AccessError("user " + sign_in.username + " is disabled");
    }
    const bool bound = !row[0][3].is_null();
    if (bound && (row[0][2].as<std::string>() != sign_in.issuer ||
                  row[0][3].as<std::string>() != sign_in.subject)) {
      throw AccessError("user " + sign_in.username +
                        " is bound to another account at the identity provider; an "
                        "administrator must check who this is");
    }
    if (!bound) {
      tx.exec_params("UPDATE users SET sso_issuer = $2, sso_subject = $3 WHERE id = $1",
                     row[0][0].as<std::int64_t>(), sign_in.issuer, sign_in.subject);
    }
    const auto before =
        nlohmann::json::parse(row[0][4].as<std::string>()).get<std::vector<std::string>>();
    std::vector<std::string> sorted_before = before;
    std::sort(sorted_before.begin(), sorted_before.end());
    if (sorted_before != roles) {
      tx.exec_params(
          "UPDATE users SET roles = ARRAY(SELECT jsonb_array_elements_text($2::jsonb))"
          " WHERE id = $1",
          row[0][0].as<std::int64_t>(), nlohmann::json(roles).dump());
      audit(tx, "sso:" + sign_in.issuer, "user.roles_changed", object,
            nlohmann::json{{"before", before}, {"after", roles}, {"source", "sso"}}.dump());
    }
  }
  std::vector<std::string> groups(
      sign_in.groups.begin(),
      sign_in.groups.begin() +
          static_cast<std::ptrdiff_t>(std::min(sign_in.groups.size(), kMaxAuditedGroups)));
  audit(tx, object, "sso.signed_in", object,
        nlohmann::json{{"issuer", sign_in.issuer},
                       {"subject", sign_in.subject},
                       {"groups", groups},
                       {"roles", roles},
                       {"client", sign_in.client}}
            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return *find_user(tx, sign_in.username);
}

}  // namespace portcullis::access
