// This session under oversight: who watches it or has joined it, as the database says.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "proxy/session.h"
#include "proxy/session_internal.h"

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

bool has_moderator(const std::vector<access::Participant>& participants) {
  return std::any_of(participants.begin(), participants.end(), [](const access::Participant& p) {
    return p.mode == access::ParticipantMode::join;
  });
}

}  // namespace

// "watch_started carol (auditor)", "join_stopped erin (admin)": the recording's markers.
std::string Session::participant_marker(const access::Participant& p, bool started) {
  return access::to_string(p.mode) + (started ? "_started " : "_stopped ") + who(p);
}

void Session::set_participants(std::vector<access::Participant> present) {
  const bool had_moderator = has_moderator(participants_);
  if (awaiting_moderator_ && phase_ == Phase::starting) {
    participants_ = std::move(present);
    return moderators_changed(had_moderator);
  }
  if (phase_ != Phase::bridging) return;
  const bool announce = context_.live.current()->config.oversight.announce;
  for (const access::Participant& p : present) {
    if (contains(participants_, p.id)) continue;
    record_marker(participant_marker(p, true));
    if (announce) write_notice("portcullis: " + arrival(p));
  }
  for (const access::Participant& p : participants_) {
    if (contains(present, p.id)) continue;
    record_marker(participant_marker(p, false));
    if (announce) write_notice("portcullis: " + departure(p));
  }
  const bool was_watched = !participants_.empty();
  participants_ = std::move(present);
  if (was_watched != !participants_.empty()) observers_.watched(!participants_.empty());
  if (moderated_) moderators_changed(had_moderator);
}

bool Session::needs_moderator(const access::Admission& admission) const {
  const std::shared_ptr<const RunningConfig> running = context_.live.current();
  const access::CompiledRule* rule =
      running->policy.governing(identity_->user->roles, admission.grant);
  return rule != nullptr && rule->config.require_moderator;
}

// The row exists (so the session can be joined) but the target is not reached until a
// moderator joins.
void Session::wait_for_moderator(const access::Admission& admission, StartResult recorded) {
  record_id_ = recorded.record_id;
  context_.registry.set_record(*this, record_id_);
  row_ = SessionRow::open;
  moderated_ = true;
  awaiting_moderator_ = AwaitingModerator{admission, std::move(recorded)};
  // The grant may end, or be revoked, before anyone comes.
  expiry_.set_grant({admission.grant.id, user_, admission.hours_end, admission.hours});
  set_expiry(admission.grant.expires_at);
  spdlog::info("session={} user={} target={} waiting for a moderator", record_id_, user_,
               admission.target.name);
  audit_later(context_.journal, "user:" + user_, "session.moderator_awaited",
              "session:" + std::to_string(record_id_), {{"grant", admission.grant.id}});
  write_notice(
      "portcullis: waiting for a moderator: the rule of grant " +
      std::to_string(admission.grant.id) +
      " needs one; someone with a role in [oversight] join_roles runs `ssh -t USER@BASTION "
      "join " +
      std::to_string(record_id_) + "`");
}

void Session::moderators_changed(bool had_moderator) {
  const bool has = has_moderator(participants_);
  if (has == had_moderator) return;
  if (awaiting_moderator_ && has) {
    AwaitingModerator waiting = std::move(*awaiting_moderator_);
    awaiting_moderator_.reset();
    write_notice("portcullis: a moderator joined; connecting to " + waiting.admission.target.name);
    return reach_target(waiting.admission, std::move(waiting.recorded));
  }
  if (!bridge_) return;
  bridge_->pause_input(!has);
  record_marker(has ? "input_resumed" : "input_paused no moderator");
  write_notice(has ? "portcullis: a moderator is back; your input goes through again"
                   : "portcullis: the last moderator left; your input is paused until one "
                     "returns");
  pump();
}

void Session::type_joined(const std::string& author, const std::string& keys) {
  if (phase_ != Phase::bridging || !bridge_) return;
  if (!bridge_->inject_input(keys)) {
    spdlog::warn("session={} dropped {} bytes typed by {}: the target is not reading", record_id_,
                 keys.size(), author);
    return;
  }
  observers_.joined_input(author, keys);
  pump();
}

}  // namespace portcullis::proxy
