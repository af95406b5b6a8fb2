#include "access/queries.h"
#include "common/common.h"

namespace portcullis::access {
namespace {

const char* const kAskForGrant =
    "request a new grant (ssh BASTION request TARGET --for DURATION --reason TEXT)";

std::vector<std::string> active_logins(pqxx::work& tx, std::int64_t user_id,
                                       std::int64_t target_id) {
  std::vector<std::string> logins;
  for (const pqxx::row& row :
       tx.exec_params("SELECT DISTINCT a.login FROM grants g JOIN accounts a ON a.id = g.account_id"
                      " WHERE g.user_id = $1 AND a.target_id = $2 AND " +
                          std::string(detail::kGrantIsActive) + " ORDER BY a.login",
                      user_id, target_id)) {
    logins.push_back(row[0].as<std::string>());
  }
  return logins;
}

// The grant that best explains the user's standing on the account (or, with account_id 0, on
// any account of the target): an active one if any, else the latest, so a denial can say what
// went wrong.
std::optional<Grant> best_grant(pqxx::work& tx, const std::string& user, std::int64_t target_id,
                                std::int64_t account_id) {
  pqxx::result rows =
      tx.exec_params(detail::grant_query() +
                         "WHERE u.name = $1 AND a.target_id = $2 AND ($3 = 0 OR g.account_id = $3)"
                         " AND g.extends_grant_id IS NULL ORDER BY " +
                         detail::kGrantIsActive + " DESC, g.id DESC LIMIT 1",
                     user, target_id, account_id);
  if (rows.empty()) return std::nullopt;
  return detail::grant_from_row(rows[0]);
}

Denial why_not_active(const Grant& grant, const std::string& where) {
  const std::string name = "your grant " + std::to_string(grant.id) + " on " + where;
  switch (grant.state) {
    case GrantState::pending:
      if (!grant.has_window()) {
        return {Denial::Kind::grant_pending,
                "your request " + std::to_string(grant.id) + " for " + where + " is waiting for " +
                    std::to_string(grant.approvals_needed - grant.approvals_given) +
                    " more approval(s); connect again once it is approved"};
      }
      return {Denial::Kind::grant_pending,
              name + " starts at " + format_rfc3339(grant.starts_at) + "; connect again then"};
    case GrantState::expired:
      if (!grant.has_window()) {
        return {Denial::Kind::grant_expired, "your request " + std::to_string(grant.id) + " for " +
                                                 where + " was never approved and timed out; " +
                                                 kAskForGrant};
      }
      return {Denial::Kind::grant_expired,
              name + " expired at " + format_rfc3339(grant.expires_at) + "; " + kAskForGrant};
    case GrantState::revoked:
      return {Denial::Kind::grant_revoked,
              name + " was revoked at " + format_rfc3339(*grant.revoked_at) + "; " + kAskForGrant};
    case GrantState::denied:
      return {Denial::Kind::grant_denied, name + " was denied; " + kAskForGrant};
    case GrantState::active:
      break;
  }
  return {Denial::Kind::no_grant, ""};
}

}  // namespace

std::variant<Admission, Denial> admit(pqxx::work& tx, const std::string& user,
                                      const std::string& target, const std::string& login) {
  std::optional<User> person = find_user(tx, user);
  if (!person)
    return Denial{Denial::Kind::unknown_user,
                  "unknown user " + user + "; ask an administrator to add you"};
  if (person->disabled) {
    return Denial{Denial::Kind::user_disabled,
                  "user " + user + " is disabled; ask an administrator to enable it"};
  }
  std::optional<Target> host = find_target(tx, target);
  if (!host) {
    return Denial{Denial::Kind::unknown_target,
                  "no target named " + target + "; check the name or " + kAskForGrant};
  }

  std::string chosen = login;
  if (chosen.empty()) {
    std::vector<std::string> logins = active_logins(tx, person->id, host->id);
    if (logins.empty()) {
      std::optional<Grant> latest = best_grant(tx, user, host->id, 0);
      if (latest) return why_not_active(*latest, target + ":" + latest->login);
      return Denial{Denial::Kind::no_grant,
                    "no active grant for " + user + " on " + target + "; " + kAskForGrant};
    }
    if (logins.size() > 1) {
      return Denial{Denial::Kind::ambiguous_login,
                    "you have active grants for several logins on " + target + " (" +
                        join(logins, ", ") + "): connect as " + user + "+" + target + "+LOGIN"};
    }
    chosen = logins.front();
  }

  const std::string where = target + ":" + chosen;
  std::optional<Account> account = find_account(tx, target, chosen);
  if (!account) {
    return Denial{Denial::Kind::unknown_login,
                  "target " + target + " has no login " + chosen + "; check the name"};
  }
  std::optional<Grant> grant = best_grant(tx, user, host->id, account->id);
  if (!grant) {
    return Denial{Denial::Kind::no_grant,
                  "no active grant for " + user + " on " + where + "; " + kAskForGrant};
  }
  if (grant->state != GrantState::active) return why_not_active(*grant, where);
  return Admission{std::move(*grant), std::move(*host), std::move(*account), std::nullopt, {}};
}

}  // namespace portcullis::access
