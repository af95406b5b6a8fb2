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

std::optional<TotpState> lock_totp_state(pqxx::work& tx, const std::string& user) {
  pqxx::result rows = tx.exec_params(
      "SELECT u.id, u.totp_secret, u.totp_last_step,"
      " (SELECT count(*) FROM mfa_failures f WHERE f.user_id = u.id"
      "  AND f.at > now() - make_interval(secs => $2)),"
      // The lockout lasts until the kMfaMaxFailures-th newest failure leaves the window.
      " (SELECT " +
          detail::micros("f.at + make_interval(secs => $2)") +
          " FROM mfa_failures f WHERE f.user_id = u.id"
          "  AND f.at > now() - make_interval(secs => $2) ORDER BY f.at DESC OFFSET $3 - 1 LIMIT 1)"
          " FROM users u WHERE u.name = $1 AND u.totp_secret IS NOT NULL FOR UPDATE OF u",
      user, static_cast<long long>(std::chrono::seconds(kMfaWindow).count()), kMfaMaxFailures);
  if (rows.empty()) return std::nullopt;
  TotpState state;
  state.user_id = rows[0][0].as<std::int64_t>();
  pqxx::binarystring sealed(rows[0][1]);
  state.sealed_secret.assign(sealed.data(), sealed.data() + sealed.size());
  if (!rows[0][2].is_null()) state.last_step = rows[0][2].as<std::int64_t>();
  state.recent_failures = rows[0][3].as<int>();
  state.locked_until = detail::optional_time_at(rows[0][4]);
  return state;
}

void record_totp_success(pqxx::work& tx, const std::string& user, const TotpState& state,
                         std::int64_t step, const std::string& client) {
  tx.exec_params("UPDATE users SET totp_last_step = $2 WHERE id = $1", state.user_id, step);
  audit(tx, user, "mfa.success", "user:" + user, nlohmann::json{{"client", client}}.dump());
}

int record_totp_failure(pqxx::work& tx, const std::string& user, const TotpState& state,
                        const std::string& reason, const std::string& node,
                        const std::string& client) {
  tx.exec_params("INSERT INTO mfa_failures (user_id, node) VALUES ($1, $2)", state.user_id, node);
  const int failures = state.recent_failures + 1;
  audit(
      tx, user, "mfa.failure", "user:" + user,
      nlohmann::json{
          {"reason", reason}, {"client", client}, {"node", node}, {"failures_in_window", failures}}
          .dump());
  return failures;
}

void record_totp_locked_attempt(pqxx::work& tx, const std::string& user, const TotpState& state,
                                const std::string& node, const std::string& client) {
  audit(tx, user, "mfa.failure", "user:" + user,
        nlohmann::json{{"reason", "locked"},
                       {"client", client},
                       {"node", node},
                       {"failures_in_window", state.recent_failures},
                       {"locked_until",
                        state.locked_until ? format_rfc3339(*state.locked_until) : std::string()}}
            .dump());
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
