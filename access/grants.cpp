#include <nlohmann/json.hpp>

#include "access/queries.h"
#include "common/common.h"

namespace portcullis::access {
namespace {

// Locks the grant row so a concurrent revoke cannot interleave with this one.
std::optional<Grant> find_grant_for_update(pqxx::work& tx, std::int64_t id) {
  pqxx::result rows = tx.exec_params(detail::grant_query() + "WHERE g.id = $1 FOR UPDATE OF g", id);
  if (rows.empty()) return std::nullopt;
  return detail::grant_from_row(rows[0]);
}

void check_revocable(const Grant& grant) {
  const std::string name = "grant " + std::to_string(grant.id);
  if (grant.state == GrantState::revoked) {
    throw AccessError(name + " was already revoked at " + format_rfc3339(*grant.revoked_at));
  }
  if (grant.state == GrantState::expired) {
    throw AccessError(name + " already expired at " + format_rfc3339(grant.expires_at));
  }
  if (grant.state == GrantState::denied) throw AccessError(name + " was denied");
}

}  // namespace

std::string to_string(GrantState s) {
  switch (s) {
    case GrantState::pending:
      return "pending";
    case GrantState::active:
      return "active";
    case GrantState::expired:
      return "expired";
    case GrantState::revoked:
      return "revoked";
    case GrantState::denied:
      return "denied";
  }
  return "unknown";
}

Grant add_grant(pqxx::work& tx, const std::string& actor, const std::string& user,
                const std::string& target, const std::string& login, std::chrono::seconds duration,
                const std::string& reason, const std::string& ticket) {
  if (duration.count() <= 0) throw AccessError("a grant needs a duration longer than zero");
  check_free_text(reason, "the reason", kMaxReasonChars);
  check_free_text(ticket, "the ticket", kMaxTicketChars, false);
  std::optional<User> grantee = find_user(tx, user);
  if (!grantee) {
    throw AccessError("no user named " + user + "; add one with: portcullis user add " + user +
                      " --key FILE");
  }
  if (grantee->disabled) throw AccessError("user " + user + " is disabled");
  std::optional<Account> account = find_account(tx, target, login);
  if (!account) {
    if (!find_target(tx, target)) throw AccessError("no target named " + target);
    throw AccessError("target " + target + " has no account " + login +
                      "; add one with: portcullis account add " + target + " " + login +
                      " --key-file FILE");
  }

  const auto id = tx.exec_params1(
                        "INSERT INTO grants (user_id, account_id, reason, ticket, duration,"
                        " starts_at, expires_at, created_by)"
                        " VALUES ($1, $2, $3, $4, make_interval(secs => $5), now(),"
                        " now() + make_interval(secs => $5), $6) RETURNING id",
                        grantee->id, account->id, reason, ticket,
                        static_cast<long long>(duration.count()), actor)[0]
                      .as<std::int64_t>();
  Grant grant = *find_grant(tx, id);
  audit(tx, actor, "grant.add", "grant:" + std::to_string(id),
        nlohmann::json{{"user", user},
                       {"target", target},
                       {"login", login},
                       {"reason", reason},
                       {"ticket", ticket},
                       {"duration", format_duration(duration)},
                       {"starts_at", format_rfc3339(grant.starts_at)},
                       {"expires_at", format_rfc3339(grant.expires_at)}}
            .dump());
  return grant;
}

std::optional<Grant> find_grant(pqxx::work& tx, std::int64_t id) {
  pqxx::result rows = tx.exec_params(detail::grant_query() + "WHERE g.id = $1", id);
  if (rows.empty()) return std::nullopt;
  return detail::grant_from_row(rows[0]);
}

std::vector<Grant> list_grants(pqxx::work& tx, bool active_only) {
  const std::string filter = active_only ? std::string("WHERE ") + detail::kGrantIsActive : "";
  std::vector<Grant> grants;
  for (const pqxx::row& row : tx.exec(detail::grant_query() + filter + " ORDER BY g.id")) {
    grants.push_back(detail::grant_from_row(row));
  }
  return grants;
}

GrantTally tally_grants(pqxx::work& tx) {
  // Every current grant is among those whose end is not audited yet (grants_unaudited_end).
  const pqxx::row row = tx.exec1(
      "SELECT count(*) FILTER (WHERE status = 'approved' AND extends_grant_id IS NULL"
      "                        AND starts_at <= now() AND now() < expires_at),"
      " count(*) FILTER (WHERE status = 'approved' AND extends_grant_id IS NULL"
      "                  AND now() < starts_at),"
      " count(*) FILTER (WHERE status = 'pending' AND extends_grant_id IS NULL"
      "                  AND now() < pending_until),"
      " count(*) FILTER (WHERE status = 'pending' AND extends_grant_id IS NOT NULL"
      "                  AND now() < pending_until)"
      " FROM grants WHERE NOT end_audited AND revoked_at IS NULL");
  return GrantTally{row[0].as<std::uint64_t>(), row[1].as<std::uint64_t>(),
                    row[2].as<std::uint64_t>(), row[3].as<std::uint64_t>()};
}

namespace detail {

void deny_request(pqxx::work& tx, const std::string& actor, const Grant& request,
                  const std::string& reason) {
  tx.exec_params(
      "UPDATE grants SET status = 'denied', denied_at = now(), denied_by = $2, deny_reason = $3,"
      " end_audited = true WHERE id = $1",
      request.id, actor, reason);
  audit(tx, actor, "request.denied", "grant:" + std::to_string(request.id),
        nlohmann::json{{"reason", reason}, {"user", request.user}, {"target", request.target}}
            .dump());
  tx.exec_params("SELECT pg_notify('portcullis_decisions', $1)", std::to_string(request.id));
}

}  // namespace detail

Grant revoke_grant(pqxx::work& tx, const std::string& actor, std::int64_t id,
                   const std::string& reason) {
  check_free_text(reason, "the reason", kMaxReasonChars, false);
  std::optional<Grant> grant = find_grant_for_update(tx, id);
  if (!grant) throw AccessError("no grant with id " + std::to_string(id));
  check_revocable(*grant);
  tx.exec_params(
      "UPDATE grants SET revoked_at = now(), revoked_by = $2, revoke_reason = NULLIF($3, ''),"
      " end_audited = true WHERE id = $1",
      id, actor, reason);
  // Its extensions (pending, or approved and not over) go with it.
  tx.exec_params(
      "UPDATE grants SET revoked_at = now(), revoked_by = $2, end_audited = true,"
      " revoke_reason = 'grant ' || $1::bigint || ' was revoked'"
      " WHERE extends_grant_id = $1::bigint AND revoked_at IS NULL AND status <> 'denied'"
      " AND (status = 'pending' OR expires_at > now())",
      id, actor);
  nlohmann::json details{{"user", grant->user},
                         {"target", grant->target},
                         {"login", grant->login},
                         {"reason", reason}};
  if (grant->extends && grant->state == GrantState::active) {
    // An approved extension: its time is taken back, so the grant ends where it would have
    // ended without it (its own window plus its other extensions still standing).
    pqxx::row parent = tx.exec_params1(
        "UPDATE grants p SET expires_at = p.starts_at + p.duration + COALESCE((SELECT"
        " sum(e.duration) FROM grants e WHERE e.extends_grant_id = p.id AND e.status = 'approved'"
        " AND e.revoked_at IS NULL), interval '0') WHERE p.id = $1 RETURNING " +
            detail::micros("p.expires_at"),
        *grant->extends);
    details["extends"] = *grant->extends;
    details["grant_expires_at"] = format_rfc3339(detail::time_at(parent[0]));
    tx.exec_params("SELECT pg_notify('portcullis_revocations', $1)",
                   std::to_string(*grant->extends));
  }
  audit(tx, actor, "grant.revoke", "grant:" + std::to_string(id), details.dump());
  // Delivered at commit: every node ends the grant's sessions at once.
  tx.exec_params("SELECT pg_notify('portcullis_revocations', $1)", std::to_string(id));
  return *find_grant(tx, id);
}

}  // namespace portcullis::access
