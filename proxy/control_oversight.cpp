// `ssh auditor@bastion sessions | kill | watch | join`: the same listings, kills and views as
// the CLI's `portcullis session ...`, for people who hold an oversight role rather than a shell
// on the bastion.
#include "proxy/control_oversight.h"

#include <nlohmann/json.hpp>
#include <sstream>

#include "access/json.h"

namespace portcullis::proxy {
namespace {

// The role of `actor` that [oversight] `key` allows, else the refusal.
std::string required_role(const access::Actor& actor, const std::vector<std::string>& roles,
                          const std::string& what, const std::string& key) {
  if (std::optional<std::string> role = access::role_among(actor.user.roles, roles)) return *role;
  throw access::AccessError(actor.user.name + " may not " + what +
                            ": that takes one of the roles [oversight] " + key + " = [" +
                            join(roles, ", ") + "]; ask an administrator");
}

nlohmann::json participant_json(const access::Participant& p) {
  return {{"id", p.id},     {"user", p.user},
          {"role", p.role}, {"mode", access::to_string(p.mode)},
          {"via", p.via},   {"started_at", format_rfc3339(p.started_at)}};
}

}  // namespace

ControlReply sessions_reply(pqxx::work& tx, const ControlEnvironment& env,
                            const access::Actor& actor, bool active_only, bool json) {
  required_role(actor, env.config.oversight.watch_roles, "list sessions", "watch_roles");
  access::SessionFilter filter;
  filter.active_only = active_only;
  ControlReply reply;
  nlohmann::json array = nlohmann::json::array();
  Table table = access::session_table();
  for (const access::SessionRow& row : access::list_sessions(tx, filter)) {
    const std::string state = row.ended_at ? "ended" : "running";
    if (json) {
      array.push_back(access::session_json(row, state));
    } else {
      access::add_session_row(table, row, state);
    }
  }
  if (json) {
    reply.out = json_reply(array);
  } else {
    std::ostringstream out;
    table.print(out);
    reply.out = out.str();
  }
  return reply;
}

ControlReply kill_reply(pqxx::work& tx, const ControlEnvironment& env, const access::Actor& actor,
                        std::int64_t session_id, const std::string& reason, bool json) {
  required_role(actor, env.config.oversight.kill_roles, "end sessions", "kill_roles");
  access::request_session_kill(tx, "user:" + actor.user.name, session_id, reason);
  ControlReply reply;
  reply.out = json ? json_reply({{"session_id", session_id}, {"kill_requested", true}})
                   : "asked the bastion to end session " + std::to_string(session_id) +
                         "; it closes within a second\n";
  return reply;
}

ControlReply participate_reply(pqxx::work& tx, const ControlEnvironment& env,
                               const access::Actor& actor, std::int64_t session_id,
                               access::ParticipantMode mode, bool json) {
  const bool join_mode = mode == access::ParticipantMode::join;
  const OversightConfig& oversight = env.config.oversight;
  const std::string role = required_role(
      actor, join_mode ? oversight.join_roles : oversight.watch_roles,
      join_mode ? "join sessions" : "watch sessions", join_mode ? "join_roles" : "watch_roles");
  std::optional<access::WatchedSession> watched = access::find_watched_session(tx, session_id);
  if (!watched) throw access::AccessError("no session with id " + std::to_string(session_id));
  ControlReply reply;
  if (json) {
    nlohmann::json present = nlohmann::json::array();
    for (const access::Participant& p : access::present_participants(tx, {session_id})) {
      present.push_back(participant_json(p));
    }
    nlohmann::json object =
        access::session_json(watched->session, watched->session.ended_at ? "ended" : "running");
    object["reason"] = watched->reason;
    object["ticket"] = watched->ticket;
    object["expires_at"] = format_rfc3339(watched->expires_at);
    object["participants"] = present;
    reply.out = json_reply(object);
    return reply;
  }
  if (!env.terminal) {
    throw UsageError(access::to_string(mode) +
                     " shows a live screen and needs a terminal: ssh -t " + actor.user.name +
                     "@BASTION " + access::to_string(mode) + " " + std::to_string(session_id));
  }
  const access::ParticipantIdentity who{actor.user.name, role, "user:" + actor.user.name};
  reply.watch = WatchFollowUp{
      access::start_participating(tx, who, session_id, mode, env.config.server.node_name),
      std::move(*watched), access::role_among(actor.user.roles, oversight.kill_roles).has_value()};
  return reply;
}

}  // namespace portcullis::proxy
