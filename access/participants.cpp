// Watchers and joiners of running sessions (access/oversight.h).
#include <nlohmann/json.hpp>

#include "access/oversight.h"
#include "access/queries.h"
#include "common/common.h"

namespace portcullis::access {
namespace {

constexpr const char* kParticipantColumns =
    "p.id, p.session_id, p.username, p.role, p.mode, p.via, ";

Participant participant_from_row(const pqxx::row& row) {
  Participant p;
  p.id = row[0].as<std::int64_t>();
  p.session_id = row[1].as<std::int64_t>();
  p.user = row[2].as<std::string>();
  p.role = row[3].as<std::string>();
  p.mode = row[4].as<std::string>() == "join" ? ParticipantMode::join : ParticipantMode::watch;
  p.via = row[5].as<std::string>();
  p.started_at = detail::time_at(row[6]);
  return p;
}

// Delivered at commit: the node holding the session tells its user.
void notify(pqxx::work& tx, std::int64_t session_id) {
  tx.exec_params("SELECT pg_notify('portcullis_participants', $1)", std::to_string(session_id));
}

}  // namespace

std::string to_string(ParticipantMode mode) {
  return mode == ParticipantMode::join ? "join" : "watch";
}

std::optional<WatchedSession> find_watched_session(pqxx::work& tx, std::int64_t session_id) {
  const pqxx::result rows = tx.exec_params(detail::session_query() + "WHERE s.id = $1", session_id);
  if (rows.empty()) return std::nullopt;
  SessionRow session = detail::session_from_row(rows[0]);
  const std::optional<Grant> grant = find_grant(tx, session.grant_id);
  if (!grant) return std::nullopt;
  return WatchedSession{std::move(session), grant->reason, grant->ticket, grant->expires_at};
}

Participant start_participating(pqxx::work& tx, const ParticipantIdentity& who,
                                std::int64_t session_id, ParticipantMode mode,
                                const std::string& via) {
  const pqxx::result rows =
      tx.exec_params(detail::session_query() + "WHERE s.id = $1 FOR SHARE OF s", session_id);
  if (rows.empty()) throw AccessError("no session with id " + std::to_string(session_id));
  const SessionRow session = detail::session_from_row(rows[0]);
  if (session.ended_at) {
    throw AccessError("session " + std::to_string(session_id) + " already ended at " +
                      format_rfc3339(*session.ended_at) + "; replay it with `portcullis play " +
                      std::to_string(session_id) + "`");
  }
  const pqxx::row row = tx.exec_params1(
      std::string("INSERT INTO session_participants AS p (session_id, username, role, mode, via)"
                  " VALUES ($1, $2, $3, $4, $5) RETURNING ") +
          kParticipantColumns + detail::micros("p.started_at"),
      session_id, who.user, who.role, to_string(mode), via);
  audit(tx, who.audit_actor, "session." + to_string(mode) + "_started",
        detail::session_object(session_id),
        nlohmann::json{{"user", session.user},
                       {"target", session.target},
                       {"login", session.login},
                       {"node", session.node},
                       {"role", who.role},
                       {"via", via}}
            .dump());
  notify(tx, session_id);
  return participant_from_row(row);
}

void stop_participating(pqxx::work& tx, std::int64_t participant_id,
                        const std::string& audit_actor) {
  const pqxx::result rows = tx.exec_params(
      "UPDATE session_participants SET ended_at = now() WHERE id = $1 AND ended_at IS NULL"
      " RETURNING session_id, mode",
      participant_id);
  if (rows.empty()) return;
  const auto session_id = rows[0][0].as<std::int64_t>();
  audit(tx, audit_actor, "session." + rows[0][1].as<std::string>() + "_stopped",
        detail::session_object(session_id), "{}");
  notify(tx, session_id);
}

void touch_participant(pqxx::work& tx, std::int64_t participant_id) {
  tx.exec_params(
      "UPDATE session_participants SET seen_at = now() WHERE id = $1 AND ended_at IS NULL",
      participant_id);
}

void send_joined_input(pqxx::work& tx, std::int64_t participant_id, std::string_view keys) {
  if (keys.empty()) return;
  if (keys.size() > kMaxJoinedKeys) {
    throw AccessError("more than " + std::to_string(kMaxJoinedKeys) + " bytes typed at once");
  }
  const pqxx::result rows = tx.exec_params(
      "INSERT INTO session_input (participant_id, session_id, keys)"
      " SELECT p.id, p.session_id, $2 FROM session_participants p"
      " JOIN sessions s ON s.id = p.session_id"
      " WHERE p.id = $1 AND p.mode = 'join' AND p.ended_at IS NULL AND s.ended_at IS NULL"
      " RETURNING session_id",
      participant_id, pqxx::binarystring(keys.data(), keys.size()));
  if (rows.empty()) throw AccessError("the session ended, or you no longer take part in it");
  tx.exec_params("SELECT pg_notify('portcullis_input', $1)", rows[0][0].c_str());
}

std::vector<JoinedInput> take_joined_input(pqxx::work& tx,
                                           const std::vector<std::int64_t>& session_ids) {
  std::vector<JoinedInput> taken;
  if (session_ids.empty()) return taken;
  for (const pqxx::row& row : tx.exec_params(
           "WITH taken AS (DELETE FROM session_input WHERE session_id = ANY($1::bigint[])"
           " RETURNING id, session_id, participant_id, keys)"
           " SELECT t.session_id, p.username, t.keys FROM taken t"
           " JOIN session_participants p ON p.id = t.participant_id ORDER BY t.id",
           detail::id_array(session_ids))) {
    taken.push_back(
        {row[0].as<std::int64_t>(), row[1].as<std::string>(), pqxx::binarystring(row[2]).str()});
  }
  return taken;
}

std::vector<Participant> present_participants(pqxx::work& tx,
                                              const std::vector<std::int64_t>& session_ids) {
  std::vector<Participant> present;
  if (session_ids.empty()) return present;
  for (const pqxx::row& row : tx.exec_params(
           std::string("SELECT ") + kParticipantColumns + detail::micros("p.started_at") +
               " FROM session_participants p WHERE p.session_id = ANY($1::bigint[])"
               " AND p.ended_at IS NULL AND p.seen_at > now() - $2 * interval '1 second'"
               " ORDER BY p.id",
           detail::id_array(session_ids), static_cast<int>(kParticipantStale.count()))) {
    present.push_back(participant_from_row(row));
  }
  return present;
}

}  // namespace portcullis::access
