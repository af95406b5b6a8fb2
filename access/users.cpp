#include <algorithm>
#include <nlohmann/json.hpp>

#include "access/queries.h"

namespace portcullis::access {
namespace {

// Roles and keys come back as JSON arrays: simpler and safer than parsing array literals.
const char* const kUserQuery =
    "SELECT u.id, u.name, array_to_json(u.roles)::text, u.disabled,"
    " COALESCE((SELECT json_agg(k.public_key ORDER BY k.id) FROM user_keys k"
    "           WHERE k.user_id = u.id), '[]')::text"
    " FROM users u ";

User user_from_row(const pqxx::row& row) {
  User user;
  user.id = row[0].as<std::int64_t>();
  user.name = row[1].as<std::string>();
  user.roles = nlohmann::json::parse(row[2].as<std::string>()).get<std::vector<std::string>>();
  user.disabled = row[3].as<bool>();
  user.public_keys =
      nlohmann::json::parse(row[4].as<std::string>()).get<std::vector<std::string>>();
  return user;
}

std::vector<detail::ParsedPublicKey> parse_keys(const std::vector<std::string>& public_keys) {
  if (public_keys.empty()) throw AccessError("a user needs at least one public key");
  std::vector<detail::ParsedPublicKey> parsed;
  for (std::size_t i = 0; i < public_keys.size(); ++i) {
    parsed.push_back(
        detail::parse_public_key(public_keys[i], "public key " + std::to_string(i + 1)));
  }
  return parsed;
}

}  // namespace

User add_user(pqxx::work& tx, const std::string& actor, const std::string& name,
              const std::vector<std::string>& public_keys, const std::vector<std::string>& roles) {
  detail::check_name("user name", name);
  for (const std::string& role : roles) detail::check_name("role", role);
  const std::vector<detail::ParsedPublicKey> keys = parse_keys(public_keys);

  pqxx::result inserted = tx.exec_params(
      "INSERT INTO users (name, roles)"
      " VALUES ($1, ARRAY(SELECT jsonb_array_elements_text($2::jsonb)))"
      " ON CONFLICT (name) DO NOTHING RETURNING id",
      name, nlohmann::json(roles).dump());
  if (inserted.empty()) throw AccessError("user " + name + " already exists");
  const auto id = inserted[0][0].as<std::int64_t>();

  nlohmann::json fingerprints = nlohmann::json::array();
  for (const detail::ParsedPublicKey& key : keys) {
    tx.exec_params(
        "INSERT INTO user_keys (user_id, public_key, fingerprint) VALUES ($1, $2, $3)"
        " ON CONFLICT (user_id, fingerprint) DO NOTHING",
        id, key.normalized, key.fingerprint);
    fingerprints.push_back(key.fingerprint);
  }
  audit(tx, actor, "user.add", "user:" + name,
        nlohmann::json{{"roles", roles}, {"key_fingerprints", fingerprints}}.dump());
  return *find_user(tx, name);
}

namespace {

User existing_user(pqxx::work& tx, const std::string& name) {
  std::optional<User> user = find_user(tx, name);
  if (!user) throw AccessError("no user named " + name);
  return *user;
}

// Locks the user's row: two administrators changing the same user serialize.
void lock_user(pqxx::work& tx, std::int64_t id) {
  tx.exec_params("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", id);
}

}  // namespace

UserDisabled disable_user(pqxx::work& tx, const std::string& actor, const std::string& name,
                          const std::string& reason) {
  check_free_text(reason, "--reason", kMaxReasonChars);
  const User user = existing_user(tx, name);
  lock_user(tx, user.id);
  if (user.disabled) throw AccessError("user " + name + " is already disabled");
  tx.exec_params(
      "UPDATE users SET disabled = true, disabled_at = now(), disabled_by = $2,"
      " disabled_reason = $3 WHERE id = $1",
      user.id, actor, reason);
  UserDisabled result;
  // What the user reads in their session's notice: the reason itself (which may be personal)
  // is only in the audit row.
  const std::string why = "user " + name + " was disabled";
  for (const pqxx::row& row : tx.exec_params(
           "SELECT g.id FROM grants g WHERE g.user_id = $1 AND g.extends_grant_id IS NULL AND " +
               std::string(detail::kGrantIsActive) + " ORDER BY g.id",
           user.id)) {
    const auto id = row[0].as<std::int64_t>();
    revoke_grant(tx, actor, id, why);
    result.grants_revoked.push_back(id);
  }
  for (const pqxx::row& row :
       tx.exec_params(detail::grant_query() +
                          "WHERE g.user_id = $1 AND g.status = 'pending' AND g.revoked_at IS NULL"
                          " ORDER BY g.id FOR UPDATE OF g",
                      user.id)) {
    const Grant request = detail::grant_from_row(row);
    detail::deny_request(tx, actor, request, why);
    result.requests_denied.push_back(request.id);
  }
  audit(tx, actor, "user.disable", "user:" + name,
        nlohmann::json{{"user", name},
                       {"reason", reason},
                       {"grants_revoked", result.grants_revoked},
                       {"requests_denied", result.requests_denied}}
            .dump());
  return result;
}

void enable_user(pqxx::work& tx, const std::string& actor, const std::string& name) {
  const User user = existing_user(tx, name);
  lock_user(tx, user.id);
  if (!user.disabled) throw AccessError("user " + name + " is not disabled");
  tx.exec_params(
      "UPDATE users SET disabled = false, disabled_at = NULL, disabled_by = NULL,"
      " disabled_reason = NULL WHERE id = $1",
      user.id);
  audit(tx, actor, "user.enable", "user:" + name, nlohmann::json{{"user", name}}.dump());
}

std::string add_user_key(pqxx::work& tx, const std::string& actor, const std::string& name,
                         const std::string& public_key) {
  const User user = existing_user(tx, name);
  const detail::ParsedPublicKey key = detail::parse_public_key(public_key, "the public key");
  pqxx::result inserted = tx.exec_params(
      "INSERT INTO user_keys (user_id, public_key, fingerprint) VALUES ($1, $2, $3)"
      " ON CONFLICT (user_id, fingerprint) DO NOTHING RETURNING id",
      user.id, key.normalized, key.fingerprint);
  if (inserted.empty()) throw AccessError("user " + name + " already has key " + key.fingerprint);
  audit(tx, actor, "user.key_add", "user:" + name,
        nlohmann::json{{"user", name}, {"key_fingerprint", key.fingerprint}}.dump());
  return key.fingerprint;
}

std::string remove_user_key(pqxx::work& tx, const std::string& actor, const std::string& name,
                            const std::string& key) {
  const User user = existing_user(tx, name);
  lock_user(tx, user.id);
  std::string fingerprint = key.starts_with("SHA256:")
                                ? key
                                : detail::parse_public_key(key, "the public key").fingerprint;
  const auto keys =
      tx.exec_params1("SELECT count(*) FROM user_keys WHERE user_id = $1", user.id)[0].as<int>();
  pqxx::result found = tx.exec_params(
      "SELECT id FROM user_keys WHERE user_id = $1 AND fingerprint = $2", user.id, fingerprint);
  if (found.empty()) throw AccessError("user " + name + " has no key " + fingerprint);
  if (keys == 1) {
    throw AccessError("key " + fingerprint + " is the last key of " + name +
                      "; add another first, or disable the user");
  }
  tx.exec_params("DELETE FROM user_keys WHERE id = $1", found[0][0].as<std::int64_t>());
  audit(tx, actor, "user.key_remove", "user:" + name,
        nlohmann::json{{"user", name}, {"key_fingerprint", fingerprint}}.dump());
  return fingerprint;
}

std::optional<User> find_user(pqxx::work& tx, const std::string& name) {
  pqxx::result rows = tx.exec_params(std::string(kUserQuery) + "WHERE u.name = $1", name);
  if (rows.empty()) return std::nullopt;
  return user_from_row(rows[0]);
}

std::vector<User> list_users(pqxx::work& tx) {
  std::vector<User> users;
  for (const pqxx::row& row : tx.exec(std::string(kUserQuery) + "ORDER BY u.name")) {
    users.push_back(user_from_row(row));
  }
  return users;
}

std::optional<std::string> role_among(const std::vector<std::string>& held,
                                      const std::vector<std::string>& allowed) {
  for (const std::string& role : held) {
    if (std::find(allowed.begin(), allowed.end(), role) != allowed.end()) return role;
  }
  return std::nullopt;
}

std::string actor_name(std::string_view actor) {
  const std::size_t colon = actor.find(':');
  return std::string(colon == std::string_view::npos ? actor : actor.substr(colon + 1));
}

}  // namespace portcullis::access
