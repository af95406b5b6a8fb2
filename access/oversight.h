// Live oversight of running sessions: who watches or joins one (session_participants), what a
// watcher's status line shows, and what the node holding the session must tell its user. Every
// change is audited and announced to the holding node by NOTIFY portcullis_participants (payload:
// the session id), whichever node or CLI the participant is on.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "access/access.h"
#include "access/workflow.h"

namespace portcullis::access {

enum class ParticipantMode { watch, join };
std::string to_string(ParticipantMode mode);  // "watch", "join"

struct Participant {
  std::int64_t id = 0;
  std::int64_t session_id = 0;
  std::string user;
  std::string role;  // the role that allowed it, named to the watched user: "bob (auditor)"
  ParticipantMode mode = ParticipantMode::watch;
  std::string via;  // a node name, or "cli"
  TimePoint started_at;
};

// A running session as a watcher sees it: who, where, under which grant and why.
struct WatchedSession {
  SessionRow session;
  std::string reason;
  std::string ticket;
  TimePoint expires_at;  // the grant's end (extensions move it)
};

// The session, or nullopt when there is none with that id.
std::optional<WatchedSession> find_watched_session(pqxx::work& tx, std::int64_t session_id);

// Who takes part: a user over ssh ("bob", the role that allowed it, audited as "user:bob"), or
// an administrator at the CLI ("root", "admin", "admin:root").
struct ParticipantIdentity {
  std::string user;
  std::string role;
  std::string audit_actor;
};

// Starts watching or joining a running session (it must not have ended). Audited
// (session.watch_started or session.join_started) and notified. Throws AccessError otherwise.
Participant start_participating(pqxx::work& tx, const ParticipantIdentity& who,
                                std::int64_t session_id, ParticipantMode mode,
                                const std::string& via);
// Ends it (audited session.watch_stopped or session.join_stopped as `audit_actor`, notified);
// once only.
void stop_participating(pqxx::work& tx, std::int64_t participant_id,
                        const std::string& audit_actor);
// The participant is still there: one whose `seen_at` is older than kParticipantStale (its node
// died) no longer counts.
void touch_participant(pqxx::work& tx, std::int64_t participant_id);
inline constexpr std::chrono::seconds kParticipantStale{60};
inline constexpr std::chrono::seconds kParticipantTouchEvery{20};

// The participants present in each of `session_ids` (not ended, not stale), oldest first.
std::vector<Participant> present_participants(pqxx::work& tx,
                                              const std::vector<std::int64_t>& session_ids);

// Keys typed by a joined participant, for the node holding the session (NOTIFY
// portcullis_input). Throws AccessError when the participant has left or only watches, or the
// session ended. At most kMaxJoinedKeys bytes at once.
inline constexpr std::size_t kMaxJoinedKeys = 4096;
void send_joined_input(pqxx::work& tx, std::int64_t participant_id, std::string_view keys);
struct JoinedInput {
  std::int64_t session_id = 0;
  std::string author;  // the participant's user
  std::string keys;
};
// Takes (and deletes) the keys waiting for `session_ids`, in the order they were typed.
std::vector<JoinedInput> take_joined_input(pqxx::work& tx,
                                           const std::vector<std::int64_t>& session_ids);

}  // namespace portcullis::access
