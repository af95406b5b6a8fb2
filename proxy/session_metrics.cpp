// What a session tells the metrics (metrics/metrics.h): its phase and its row as they change,
// and the names the access library's reasons have there.
#include "proxy/session.h"
#include "proxy/session_internal.h"

namespace portcullis::proxy {
metrics::SessionEnd session_end_metric(access::EndReason reason) {
  switch (reason) {
    case access::EndReason::client_exit:
      return metrics::SessionEnd::client_exit;
    case access::EndReason::grant_expired:
      return metrics::SessionEnd::grant_expired;
    case access::EndReason::revoked:
      return metrics::SessionEnd::revoked;
    case access::EndReason::killed:
      return metrics::SessionEnd::killed;
    case access::EndReason::upstream_closed:
      return metrics::SessionEnd::upstream_closed;
    case access::EndReason::error:
      break;
  }
  return metrics::SessionEnd::error;
}

metrics::Denial denial_metric(access::Denial::Kind kind) {
  using Kind = access::Denial::Kind;
  switch (kind) {
    case Kind::unknown_user:
      return metrics::Denial::unknown_user;
    case Kind::user_disabled:
      return metrics::Denial::user_disabled;
    case Kind::unknown_target:
      return metrics::Denial::unknown_target;
    case Kind::unknown_login:
      return metrics::Denial::unknown_login;
    case Kind::ambiguous_login:
      return metrics::Denial::ambiguous_login;
    case Kind::no_grant:
      return metrics::Denial::no_grant;
    case Kind::grant_pending:
      return metrics::Denial::grant_pending;
    case Kind::grant_expired:
      return metrics::Denial::grant_expired;
    case Kind::grant_revoked:
      return metrics::Denial::grant_revoked;
    case Kind::grant_denied:
      return metrics::Denial::grant_denied;
    case Kind::rule_removed:
      return metrics::Denial::rule_removed;
    case Kind::outside_hours:
      return metrics::Denial::outside_hours;
    case Kind::mfa_not_enrolled:
      return metrics::Denial::mfa_not_enrolled;
    case Kind::source_refused:
      return metrics::Denial::source_refused;
    case Kind::sign_in_method:
      return metrics::Denial::sign_in_method;
    case Kind::mfa_not_given:
      break;
  }
  return metrics::Denial::mfa_not_given;
}

void end_row_later(Journal& journal, metrics::Metrics& metrics, std::int64_t session_id,
                   access::EndReason reason, std::optional<int> exit_status, access::TimePoint at) {
  journal.submit(access::journal_session_end(session_id, reason, exit_status, at));
  metrics.session_ended(session_end_metric(reason));
}

void Session::PhaseChange::operator()(std::optional<Phase> from,
                                      std::optional<Phase> to) const noexcept {
  metrics->connection_moved(from ? connection_state(*from) : std::nullopt,
                            to ? connection_state(*to) : std::nullopt);
  const auto holds = [](std::optional<Phase> phase) {
    return phase == Phase::starting || phase == Phase::bridging;
  };
  if (holds(from) && !holds(to)) registry->release_target_session(connection_id);
}

void Session::RowCount::operator()(std::optional<SessionRow> from,
                                   std::optional<SessionRow> to) const noexcept {
  const bool was_open = from == SessionRow::open;
  const bool is_open = to == SessionRow::open;
  if (is_open && !was_open) metrics->session_opened();
  if (was_open && !is_open) metrics->session_closed();
}

// Revocations, kills and ends of grants reach a session from the database; how long after the
// database's moment it closed is what the lateness histogram shows.
void Session::count_lateness(access::EndReason reason, std::optional<access::TimePoint> due) {
  if (!due) return;
  std::optional<metrics::LateCause> cause;
  if (reason == access::EndReason::revoked) cause = metrics::LateCause::revoke;
  if (reason == access::EndReason::killed) cause = metrics::LateCause::kill;
  if (reason == access::EndReason::grant_expired) cause = metrics::LateCause::expiry;
  if (cause) context_.metrics.ended_late(*cause, *due, context_.clock.now());
}

std::optional<metrics::ConnectionState> Session::connection_state(Phase phase) {
  using State = metrics::ConnectionState;
  switch (phase) {
    case Phase::key_exchange:
      return State::handshake;
    case Phase::authenticating:
      return State::authenticating;
    case Phase::ready:
      return State::authenticated;
    case Phase::starting:
      return State::starting;
    case Phase::bridging:
      return State::bridging;
    case Phase::control:
      return State::control;
    case Phase::waiting:
      return State::waiting;
    case Phase::watching:
      return State::watching;
    case Phase::draining:
      return State::draining;
    case Phase::closed:
      break;
  }
  return std::nullopt;
}

}  // namespace portcullis::proxy
