// Admission of a start request: a control command for USER, a refusal naming what is missing
// (no grant, an expired one, an unreachable database, a session limit), or the start of a
// session on the target the grant names.
#include "proxy/session.h"
#include "proxy/session_internal.h"

namespace portcullis::proxy {

std::optional<Session::Refusal> Session::denial_reason() const {
  const Identity& identity = *identity_;
  if (identity.database_unavailable) {
    return Refusal{metrics::Denial::database_unavailable,
                   "the access database is unreachable, so no grant can be checked; try again "
                   "shortly or contact the bastion administrator"};
  }
  if (!identity.parsed || !identity.user) {
    return Refusal{metrics::Denial::unknown_user, "unknown user " + identity.login_name};
  }
  if (const auto* denial = std::get_if<access::Denial>(&identity.admission)) {
    return Refusal{denial_metric(denial->kind), denial->reason};
  }
  const auto& grant = std::get<access::Admission>(identity.admission).grant;
  if (grant.expires_at <= context_.clock.now()) {
    return Refusal{metrics::Denial::grant_expired,
                   "grant " + std::to_string(grant.id) + " expired at " +
                       format_rfc3339(grant.expires_at) + "; ask for a new grant"};
  }
  return std::nullopt;
}

void Session::deny(const Refusal& refusal) {
  context_.metrics.admission_denied(refusal.kind);
  refuse(refusal.reason);
}

void Session::handle_start(SshMessage message, StartKind kind, std::string command) {
  if (phase_ != Phase::ready) {
    ssh_message_reply_default(message.get());
    return;
  }
  setup_.kind = kind;
  setup_.command = std::move(command);
  const bool control = identity_->parsed && identity_->parsed->target.empty() &&
                       !identity_->database_unavailable && identity_->user;
  if (control && kind != StartKind::subsystem) {
    ssh_message_channel_request_reply_success(message.get());
    return run_control(setup_.command);
  }
  if (control) {
    ssh_message_channel_request_reply_success(message.get());
    return deny({metrics::Denial::target_required,
                 "sftp and scp need a target: log in as " + user_ + "+TARGET"});
  }
  if (auto refusal = denial_reason()) {
    ssh_message_channel_request_reply_success(message.get());
    return deny(*refusal);
  }
  if (auto limit = hold_target_session()) {
    ssh_message_channel_request_reply_success(message.get());
    return deny(*limit);
  }
  start_request_ = std::move(message);
  phase_ = Phase::starting;
  start_upstream(std::get<access::Admission>(identity_->admission));
}

// max_sessions_per_user and max_sessions: counted over the target sessions of this node
// (starting or open, on every loop); the place is taken here and given back when the phase
// leaves starting/bridging (PhaseChange).
std::optional<Session::Refusal> Session::hold_target_session() {
  const std::shared_ptr<const RunningConfig> running = context_.live.current();
  const ServerConfig& server = running->config.server;
  const SessionRegistry::TargetSessions count = context_.registry.hold_target_session(
      *this, user_, server.max_sessions, server.max_sessions_per_user);
  if (count.held) return std::nullopt;
  if (count.of_user >= server.max_sessions_per_user) {
    context_.limits.hit("max_sessions_per_user", user_);
    return Refusal{metrics::Denial::max_sessions_per_user,
                   user_ + " already has " + std::to_string(count.of_user) +
                       " sessions open, the most [server] max_sessions_per_user allows; end one "
                       "and connect again"};
  }
  context_.limits.hit("max_sessions", "node");
  return Refusal{metrics::Denial::max_sessions,
                 "the bastion already holds " + std::to_string(count.total) +
                     " sessions, the most [server] max_sessions allows; try again later"};
}

// The session row on the login workers (which hold database connections), then the target:
// dialled on the loop, and logged in to on the upstream pool once it has answered
// (upstream_dial.h), so a target that accepts TCP and never answers holds neither a login
// worker nor an upstream thread, only its socket, for at most upstream_timeout.
}  // namespace portcullis::proxy
