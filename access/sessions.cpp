#include <algorithm>
#include <nlohmann/json.hpp>

#include "access/queries.h"
#include "common/common.h"

namespace portcullis::access {
namespace {

constexpr EndReason kEndReasons[] = {EndReason::client_exit,     EndReason::grant_expired,
                                     EndReason::revoked,         EndReason::killed,
                                     EndReason::upstream_closed, EndReason::error};

std::optional<EndReason> end_reason(const pqxx::field& field) {
  if (field.is_null()) return std::nullopt;
  const auto text = field.as<std::string>();
  if (auto reason = parse_end_reason(text)) return reason;
  throw std::logic_error("unknown session end reason in the database: " + text);
}

}  // namespace

namespace detail {

const std::string& session_query() {
  static const std::string sql =
      "SELECT s.id, s.grant_id, u.name, t.name, a.login, s.node, s.client, " +
      detail::micros("s.started_at") + ", " + detail::micros("s.ended_at") +
      ", s.end_reason, s.exit_status, COALESCE(s.certificate::text, '')"
      " FROM sessions s"
      " JOIN grants g ON g.id = s.grant_id"
      " JOIN users u ON u.id = g.user_id"
      " JOIN accounts a ON a.id = g.account_id"
      " JOIN targets t ON t.id = a.target_id ";
  return sql;
}

SessionRow session_from_row(const pqxx::row& row) {
  SessionRow session;
  session.id = row[0].as<std::int64_t>();
  session.grant_id = row[1].as<std::int64_t>();
  session.user = row[2].as<std::string>();
  session.target = row[3].as<std::string>();
  session.login = row[4].as<std::string>();
  session.node = row[5].as<std::string>();
  session.client = row[6].as<std::string>();
  session.started_at = detail::time_at(row[7]);
  session.ended_at = detail::optional_time_at(row[8]);
  session.end_reason = end_reason(row[9]);
  if (!row[10].is_null()) session.exit_status = row[10].as<int>();
  session.certificate_json = row[11].as<std::string>();
  return session;
}

std::string session_object(std::int64_t id) { return "session:" + std::to_string(id); }

std::string id_array(const std::vector<std::int64_t>& ids) {
  std::string literal = "{";
  for (std::int64_t id : ids) literal += (literal.size() > 1 ? "," : "") + std::to_string(id);
  return literal + "}";
}

}  // namespace detail

namespace {

std::string node_actor(const std::string& node) { return "portcullisd:" + node; }

}  // namespace

using detail::id_array;
using detail::session_from_row;
using detail::session_object;
using detail::session_query;

std::string to_string(EndReason r) {
  switch (r) {
    case EndReason::client_exit:
      return "client_exit";
    case EndReason::grant_expired:
      return "grant_expired";
    case EndReason::revoked:
      return "revoked";
    case EndReason::killed:
      return "killed";
    case EndReason::upstream_closed:
      return "upstream_closed";
    case EndReason::error:
      return "error";
  }
  return "unknown";
}

std::optional<EndReason> parse_end_reason(std::string_view text) {
  for (EndReason reason : kEndReasons) {
    if (to_string(reason) == text) return reason;
  }
  return std::nullopt;
}

std::int64_t start_session(pqxx::work& tx, std::int64_t grant_id, const std::string& node,
                           const std::string& client, const std::string& boot) {
  // Re-checked here: the grant may have ended between admission and this insert.
  pqxx::result inserted = tx.exec_params(
      "INSERT INTO sessions (grant_id, node, client, boot)"
      " SELECT g.id, $2, $3, $4 FROM grants g WHERE g.id = $1 AND " +
          std::string(detail::kGrantIsActive) + " RETURNING id",
      grant_id, node, client, boot);
  if (inserted.empty()) {
    throw AccessError("grant " + std::to_string(grant_id) + " is no longer active");
  }
  const auto id = inserted[0][0].as<std::int64_t>();
  const std::string user =
      tx.exec_params1(
            "SELECT u.name FROM grants g JOIN users u ON u.id = g.user_id WHERE g.id = $1",
            grant_id)[0]
          .as<std::string>();
  audit(tx, "user:" + user, "session.start", session_object(id),
        nlohmann::json{{"grant", grant_id}, {"node", node}, {"client", client}}.dump());
  return id;
}

void end_session(pqxx::work& tx, std::int64_t session_id, EndReason reason,
                 std::optional<int> exit_status, TimePoint ended_at) {
  // Ending twice keeps the first outcome: a session ends once. The end is when it happened
  // (the row may be written long after, from the journal), never before the start (the
  // node's clock and the database's may differ a little).
  pqxx::result ended = tx.exec_params(
      "UPDATE sessions SET ended_at = GREATEST(started_at, " + detail::from_micros("$4") +
          "), end_reason = $2, exit_status = NULLIF($3, '')::integer"
          " WHERE id = $1 AND ended_at IS NULL RETURNING node, " +
          detail::micros("ended_at"),
      session_id, to_string(reason), exit_status ? pqxx::to_string(*exit_status) : std::string(),
      detail::micros_of(ended_at));
  if (ended.empty()) return;
  nlohmann::json details{{"reason", to_string(reason)}};
  details["exit_status"] = exit_status ? nlohmann::json(*exit_status) : nlohmann::json();
  details["ended_at"] = format_rfc3339(detail::time_at(ended[0][1]));
  audit(tx, node_actor(ended[0][0].as<std::string>()), "session.end", session_object(session_id),
        details.dump());
}

std::vector<SessionRow> recent_sessions(pqxx::work& tx, const SessionFilter& filter,
                                        const std::optional<TimePoint>& until, std::size_t limit) {
  // false / '' / 0 mean "no condition", so one statement serves every filter.
  std::vector<SessionRow> sessions;
  for (const pqxx::row& row : tx.exec_params(
           session_query() +
               "WHERE (NOT $1 OR s.ended_at IS NULL) AND ($2 = '' OR u.name = $2)"
               " AND ($3 = '' OR t.name = $3) AND " +
               detail::since_condition("s.started_at", "$4") +
               " AND ($5::bigint = 0 OR s.grant_id = $5::bigint)"
               " AND ($6::bigint = 0 OR s.started_at <= " +
               detail::from_micros("$6") + ") ORDER BY s.id DESC LIMIT NULLIF($7::bigint, 0)",
           filter.active_only, filter.user, filter.target, detail::since_parameter(filter.since),
           filter.grant_id.value_or(0), until ? detail::micros_of(*until) : 0LL,
           static_cast<long long>(limit))) {
    sessions.push_back(session_from_row(row));
  }
  return sessions;
}

std::vector<SessionRow> list_sessions(pqxx::work& tx, const SessionFilter& filter) {
  std::vector<SessionRow> sessions = recent_sessions(tx, filter, std::nullopt, 0);
  std::reverse(sessions.begin(), sessions.end());
  return sessions;
}

std::optional<SessionRow> find_session(pqxx::work& tx, std::int64_t session_id) {
  const pqxx::result rows = tx.exec_params(session_query() + "WHERE s.id = $1", session_id);
  if (rows.empty()) return std::nullopt;
  return session_from_row(rows[0]);
}

void request_session_kill(pqxx::work& tx, const std::string& actor, std::int64_t session_id,
                          const std::string& reason) {
  check_free_text(reason, "the reason", kMaxReasonChars, false);
  pqxx::result rows =
      tx.exec_params(session_query() + "WHERE s.id = $1 FOR UPDATE OF s", session_id);
  if (rows.empty()) throw AccessError("no session with id " + std::to_string(session_id));
  const SessionRow session = session_from_row(rows[0]);
  if (session.ended_at) {
    throw AccessError("session " + std::to_string(session_id) + " already ended at " +
                      format_rfc3339(*session.ended_at) + " (" + to_string(*session.end_reason) +
                      ")");
  }
  tx.exec_params(
      "UPDATE sessions SET kill_requested_at = COALESCE(kill_requested_at, now()),"
      " kill_requested_by = COALESCE(kill_requested_by, $2),"
      " kill_reason = CASE WHEN kill_requested_by IS NULL THEN $3 ELSE kill_reason END"
      " WHERE id = $1",
      session_id, actor, reason.empty() ? std::optional<std::string>() : reason);
  audit(tx, actor, "session.kill", session_object(session_id),
        nlohmann::json{{"user", session.user},
                       {"target", session.target},
                       {"login", session.login},
                       {"node", session.node},
                       {"reason", reason}}
            .dump());
  // Delivered at commit: the node holding the session ends it at once.
  tx.exec_params("SELECT pg_notify('portcullis_kills', $1)", std::to_string(session_id));
}

std::vector<SessionStatus> session_statuses(pqxx::work& tx,
                                            const std::vector<std::int64_t>& session_ids) {
  std::vector<SessionStatus> statuses;
  if (session_ids.empty()) return statuses;
  for (const pqxx::row& row :
       tx.exec_params("SELECT s.id, " + detail::micros("g.expires_at") +
                          ", g.revoked_at IS NOT NULL, s.kill_requested_at IS NOT NULL, g.id, " +
                          detail::micros("g.revoked_at") + ", coalesce(g.revoke_reason, '')" +
                          ", coalesce(s.kill_requested_by, ''), coalesce(s.kill_reason, ''), " +
                          detail::micros("s.kill_requested_at") +
                          " FROM sessions s JOIN grants g ON g.id = s.grant_id"
                          " WHERE s.id = ANY($1::bigint[])",
                      id_array(session_ids))) {
    statuses.push_back(SessionStatus{
        row[0].as<std::int64_t>(), detail::time_at(row[1]), row[2].as<bool>(), row[3].as<bool>(),
        row[4].as<std::int64_t>(), detail::optional_time_at(row[5]), row[6].c_str(), row[7].c_str(),
        row[8].c_str(), detail::optional_time_at(row[9])});
  }
  return statuses;
}

TimePoint database_now(pqxx::work& tx) {
  return detail::time_at(tx.exec1("SELECT " + detail::micros("clock_timestamp()"))[0]);
}

void close_orphaned_sessions(pqxx::work& tx, const std::string& node, const std::string& boot,
                             TimePoint restarted_at) {
  // Only sessions of earlier runs: this run's own may already be under way. Their true end is
  // unknown (the daemon stopped without writing it); the restart bounds it.
  pqxx::result closed = tx.exec_params(
      "UPDATE sessions SET ended_at = GREATEST(started_at, " + detail::from_micros("$3") +
          "), end_reason = 'error'"
          " WHERE node = $1 AND ended_at IS NULL AND boot IS DISTINCT FROM $2 RETURNING id",
      node, boot, detail::micros_of(restarted_at));
  for (const pqxx::row& row : closed) {
    audit(
        tx, node_actor(node), "session.end", session_object(row[0].as<std::int64_t>()),
        nlohmann::json{{"reason", "error"}, {"detail", "left open when the node stopped"}}.dump());
  }
}

}  // namespace portcullis::access
