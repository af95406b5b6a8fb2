// This session under oversight: who watches it or has joined it, as the database says.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "proxy/session.h"

namespace portcullis::proxy {
namespace {

bool contains(const std::vector<access::Participant>& participants, std::int64_t id) {
  return std::any_of(participants.begin(), participants.end(),
                     [id](const access::Participant& p) { return p.id == id; });
}

std::string who(const access::Participant& p) { return p.user + " (" + p.role + ")"; }

std::string arrival(const access::Participant& p) {
  return p.mode == access::ParticipantMode::join ? who(p) + " joined this session and may type"
                                                 : who(p) + " is watching this session";
}

std::string departure(const access::Participant& p) {
  return p.mode == access::ParticipantMode::join ? who(p) + " left this session"
                                                 : who(p) + " stopped watching this session";
}

}  // namespace

void Session::set_participants(std::vector<access::Participant> present) {
  if (phase_ != Phase::bridging) return;
  const bool announce = context_.config.oversight.announce;
  for (const access::Participant& p : present) {
    if (contains(participants_, p.id)) continue;
    record_marker(std::string(p.mode == access::ParticipantMode::join ? "join" : "watch") +
                  "_started " + who(p));
    if (announce) write_notice("portcullis: " + arrival(p));
  }
  for (const access::Participant& p : participants_) {
    if (contains(present, p.id)) continue;
    record_marker(std::string(p.mode == access::ParticipantMode::join ? "join" : "watch") +
                  "_stopped " + who(p));
    if (announce) write_notice("portcullis: " + departure(p));
  }
  participants_ = std::move(present);
}

}  // namespace portcullis::proxy
