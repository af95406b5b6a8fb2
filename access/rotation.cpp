#include "access/rotation.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "access/queries.h"

namespace portcullis::access {
namespace {

// Used since its secret was set: a session on it started after the secret was stored.
constexpr const char* kUsedSinceSecretSet =
    "EXISTS (SELECT 1 FROM sessions s JOIN grants g ON g.id = s.grant_id"
    " WHERE g.account_id = a.id AND s.started_at > coalesce(a.last_rotated_at, a.created_at))";

// Free of grants and sessions: nothing active covers it and every session on it has ended.
std::string idle_condition() {
  return std::string("NOT EXISTS (SELECT 1 FROM grants g WHERE g.account_id = a.id AND ") +
         detail::kGrantIsActive +
         ") AND NOT EXISTS (SELECT 1 FROM sessions s JOIN grants g ON g.id = s.grant_id"
         " WHERE g.account_id = a.id AND s.ended_at IS NULL)";
}

// Not held by a holder whose lease still runs; $1 is the lease in seconds.
constexpr const char* kNotHeld =
    "(a.rotation_state <> 'rotating'"
    " OR a.rotation_started_at < now() - make_interval(secs => $1))";

// Paths the remote commands can use without quoting trouble; relative to the login's home.
void check_authorized_keys_path(const std::string& path) {
  const bool allowed = !path.empty() && path.size() <= 1024 && path.front() != '-' &&
                       std::all_of(path.begin(), path.end(), [](char c) {
                         return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' ||
                                c == '_' || c == '/' || c == '@' || c == '+' || c == '-';
                       });
  if (!allowed) {
    throw AccessError("invalid --authorized-keys path '" + inert_line(path.substr(0, 80)) +
                      "': use letters, digits and . _ / @ + - (not starting with -), at most "
                      "1024 characters");
  }
}

// In RotationState's order; the list query writes these names.
constexpr const char* kRotationStateNames[] = {"ok", "pending", "rotating", "rotation_failed"};

RotationState display_state(const std::string& text) {
  const auto* found =
      std::find(std::begin(kRotationStateNames), std::end(kRotationStateNames), text);
  if (found == std::end(kRotationStateNames)) {
    throw std::logic_error("unknown rotation state: " + text);
  }
  return static_cast<RotationState>(found - std::begin(kRotationStateNames));
}

RotationSettings settings_from(const pqxx::field& mode, const pqxx::field& authorized_keys) {
  std::optional<RotateMode> parsed = parse_rotate_mode(mode.as<std::string>());
  if (!parsed) throw std::logic_error("unknown rotate mode: " + mode.as<std::string>());
  return RotationSettings{*parsed, authorized_keys.as<std::string>()};
}

// Marks the row held by `holder` and builds the claim.
RotationClaim take(pqxx::work& tx, const std::string& holder, std::int64_t account_id) {
  pqxx::row row = tx.exec_params1(
      "UPDATE accounts a SET rotation_state = 'rotating', rotation_started_at = now(),"
      " rotation_node = $2 FROM targets t WHERE a.id = $1 AND t.id = a.target_id"
      " RETURNING t.name, a.login, a.rotate, a.authorized_keys, a.rotation_failures",
      account_id, holder);
  const std::string target = row[0].as<std::string>();
  const std::string login = row[1].as<std::string>();
  return RotationClaim{*find_account(tx, target, login), *find_target(tx, target),
                       settings_from(row[2], row[3]), row[4].as<int>(), holder};
}

std::string object_of(const RotationClaim& claim) {
  return "account:" + claim.target.name + ":" + claim.account.login;
}

}  // namespace

std::string to_string(RotateMode mode) {
  return mode == RotateMode::after_use ? "after-use" : "never";
}

std::optional<RotateMode> parse_rotate_mode(std::string_view text) {
  if (text == "never") return RotateMode::never;
  if (text == "after-use") return RotateMode::after_use;
  return std::nullopt;
}

std::string to_string(RotationState state) {
  return kRotationStateNames[static_cast<std::size_t>(state)];
}

void set_account_rotation(pqxx::work& tx, const std::string& actor, const std::string& target,
                          const std::string& login, const RotationSettings& settings) {
  check_authorized_keys_path(settings.authorized_keys);
  pqxx::result updated = tx.exec_params(
      "UPDATE accounts a SET rotate = $3, authorized_keys = $4 FROM targets t"
      " WHERE t.id = a.target_id AND t.name = $1 AND a.login = $2 RETURNING a.id",
      target, login, to_string(settings.mode), settings.authorized_keys);
  if (updated.empty()) throw AccessError("target " + target + " has no account " + login);
  audit(tx, actor, "account.rotation", "account:" + target + ":" + login,
        nlohmann::json{{"rotate", to_string(settings.mode)},
                       {"authorized_keys", settings.authorized_keys}}
            .dump());
}

std::vector<AccountStatus> list_account_statuses(pqxx::work& tx) {
  std::map<std::int64_t, pqxx::row> rotation;
  for (const pqxx::row& row : tx.exec("SELECT a.id, a.rotate, a.authorized_keys, " +
                                      detail::micros("coalesce(a.last_rotated_at, a.created_at)") +
                                      ", " + detail::micros("a.last_rotated_at") +
                                      ", CASE WHEN a.rotation_state <> 'ok' THEN a.rotation_state"
                                      " WHEN a.rotate = 'after-use' AND " +
                                      kUsedSinceSecretSet +
                                      " THEN 'pending' ELSE 'ok' END, a.rotation_failures,"
                                      " coalesce(a.rotation_error, ''), " +
                                      detail::micros("a.next_rotation_at") + " FROM accounts a")) {
    rotation.emplace(row[0].as<std::int64_t>(), row);
  }
  std::vector<AccountStatus> statuses;
  for (Account& account : list_accounts(tx)) {
    const pqxx::row& row = rotation.at(account.id);
    statuses.push_back(AccountStatus{std::move(account), settings_from(row[1], row[2]),
                                     detail::time_at(row[3]), detail::optional_time_at(row[4]),
                                     display_state(row[5].as<std::string>()), row[6].as<int>(),
                                     row[7].as<std::string>(), detail::optional_time_at(row[8])});
  }
  return statuses;
}

std::optional<RotationClaim> claim_due_rotation(pqxx::work& tx, const std::string& holder) {
  pqxx::result due = tx.exec_params(
      std::string("SELECT a.id FROM accounts a WHERE a.rotate = 'after-use'"
                  " AND a.kind IN ('key', 'password') AND ") +
          kNotHeld + " AND (a.next_rotation_at IS NULL OR a.next_rotation_at <= now()) AND " +
          kUsedSinceSecretSet + " AND " + idle_condition() +
          " ORDER BY a.next_rotation_at NULLS FIRST, a.id LIMIT 1 FOR UPDATE OF a SKIP LOCKED",
      static_cast<double>(std::chrono::seconds(kRotationLease).count()));
  if (due.empty()) return std::nullopt;
  return take(tx, holder, due[0][0].as<std::int64_t>());
}

RotationClaim claim_rotation(pqxx::work& tx, const std::string& holder, const std::string& target,
                             const std::string& login) {
  pqxx::result found = tx.exec_params(
      std::string("SELECT a.id, a.kind, ") + kNotHeld +
          ", coalesce(a.rotation_node, '')"
          " FROM accounts a JOIN targets t ON t.id = a.target_id"
          " WHERE t.name = $2 AND a.login = $3 FOR UPDATE OF a",
      static_cast<double>(std::chrono::seconds(kRotationLease).count()), target, login);
  if (found.empty()) throw AccessError("target " + target + " has no account " + login);
  const std::string kind = found[0][1].as<std::string>();
  if (kind != "key" && kind != "password") {
    throw AccessError("account " + login + " on " + target + " is a " + kind +
                      " account: it keeps no secret to rotate");
  }
  if (!found[0][2].as<bool>()) {
    throw AccessError("account " + login + " on " + target + " is being rotated by " +
                      found[0][3].as<std::string>() + "; try again once it is done");
  }
  return take(tx, holder, found[0][0].as<std::int64_t>());
}

void keep_pending_secret(pqxx::work& tx, const RotationClaim& claim,
                         const std::vector<std::uint8_t>& sealed_secret) {
  tx.exec_params("UPDATE accounts SET pending_sealed_secret = $2 WHERE id = $1", claim.account.id,
                 pqxx::binarystring(sealed_secret.data(), sealed_secret.size()));
}

void finish_rotation(pqxx::work& tx, const std::string& actor, const RotationClaim& claim,
                     const std::vector<std::uint8_t>& sealed_secret,
                     const std::string& details_json) {
  pqxx::result finished = tx.exec_params(
      "UPDATE accounts SET sealed_secret = $3, pending_sealed_secret = NULL,"
      " last_rotated_at = now(), rotation_state = 'ok', rotation_started_at = NULL,"
      " rotation_node = NULL, rotation_failures = 0, rotation_error = NULL,"
      " next_rotation_at = NULL"
      " WHERE id = $1 AND rotation_state = 'rotating' AND rotation_node = $2 RETURNING id",
      claim.account.id, claim.holder,
      pqxx::binarystring(sealed_secret.data(), sealed_secret.size()));
  if (finished.empty()) {
    throw AccessError("the rotation of " + object_of(claim) +
                      " was taken over by another node after its lease ran out");
  }
  audit(tx, actor, "credential.rotated", object_of(claim), details_json);
}

void fail_rotation(pqxx::work& tx, const std::string& actor, const RotationClaim& claim,
                   const RotationFailure& failure) {
  tx.exec_params(
      "UPDATE accounts SET rotation_state = CASE WHEN $3 THEN 'rotation_failed' ELSE 'ok' END,"
      " rotation_started_at = NULL, rotation_node = NULL, rotation_failures = $4,"
      " rotation_error = $5, next_rotation_at = now() + make_interval(secs => $6)"
      " WHERE id = $1 AND rotation_state = 'rotating' AND rotation_node = $2",
      claim.account.id, claim.holder, failure.failed, failure.failures, failure.error,
      static_cast<double>(failure.retry_in.count()));
  audit(tx, actor, "credential.rotation_failed", object_of(claim),
        nlohmann::json{{"kind", to_string(claim.account.kind)},
                       {"error", failure.error},
                       {"attempt", failure.failures},
                       {"retry_in_seconds", failure.retry_in.count()},
                       {"state", failure.failed ? "rotation_failed" : "pending"}}
            .dump());
}

}  // namespace portcullis::access
