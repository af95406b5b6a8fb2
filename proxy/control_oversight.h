// The control commands of live oversight (`sessions`, `kill`, `watch`, `join`): private to
// proxy/control*.cpp. Each runs in the command's transaction and throws access::AccessError
// (the reply's message) when the actor may not.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include "proxy/control.h"

namespace portcullis::proxy {

// A mistake in the command line; the message says what to type instead.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Indented, ASCII only (every other character as a \u escape): exact, and inert on a terminal.
std::string json_reply(const nlohmann::json& value);

ControlReply sessions_reply(pqxx::work& tx, const ControlEnvironment& env,
                            const access::Actor& actor, bool active_only, bool json);
ControlReply kill_reply(pqxx::work& tx, const ControlEnvironment& env, const access::Actor& actor,
                        std::int64_t session_id, const std::string& reason, bool json);
// `watch` and `join`: the participant is added here; the session then shows the live view.
// With --json, the session and who takes part in it, once, and no live view.
ControlReply participate_reply(pqxx::work& tx, const ControlEnvironment& env,
                               const access::Actor& actor, std::int64_t session_id,
                               access::ParticipantMode mode, bool json);

}  // namespace portcullis::proxy
