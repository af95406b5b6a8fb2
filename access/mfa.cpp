#include <nlohmann/json.hpp>

#include "access/queries.h"

namespace portcullis::access {

std::string totp_context(const std::string& user) { return "totp:" + user; }

bool totp_enrolled(pqxx::work& tx, const std::string& user) {
  pqxx::result rows =
      tx.exec_params("SELECT totp_secret IS NOT NULL FROM users WHERE name = $1", user);
  return !rows.empty() && rows[0][0].as<bool>();
}

void set_totp_secret(pqxx::work& tx, const std::string& actor, const std::string& user,
                     const std::vector<std::uint8_t>& sealed_secret) {
  pqxx::result updated = tx.exec_params(
      "UPDATE users SET totp_secret = $2, totp_last_step = NULL WHERE name = $1 RETURNING id", user,
      pqxx::binarystring(sealed_secret.data(), sealed_secret.size()));
  if (updated.empty()) throw AccessError("no user named " + user);
  audit(tx, actor, "user.totp_enrolled", "user:" + user);
}

int reset_mfa_failures(pqxx::work& tx, const std::string& actor, const std::string& user) {
  pqxx::result found = tx.exec_params("SELECT id FROM users WHERE name = $1 FOR UPDATE", user);
  if (found.empty()) throw AccessError("no user named " + user);
  const pqxx::result cleared = tx.exec_params(
      "DELETE FROM mfa_failures WHERE user_id = $1 RETURNING 1", found[0][0].as<std::int64_t>());
  const int count = static_cast<int>(cleared.size());
  audit(tx, actor, "user.mfa_reset", "user:" + user,
        nlohmann::json{{"user", user}, {"failures_cleared", count}}.dump());
  return count;
}

}  // namespace portcullis::access
