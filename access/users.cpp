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

}  // namespace portcullis::access
