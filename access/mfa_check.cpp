#include "access/mfa_check.h"

#include <nlohmann/json.hpp>

#include "access/queries.h"
#include "access/totp.h"
#include "common/common.h"

namespace portcullis::access {
namespace {

std::optional<TotpState> lock_totp_state(pqxx::work& tx, const std::string& user) {
  pqxx::result rows = tx.exec_params(
      "SELECT u.id, u.totp_secret, u.totp_last_step,"
      " (SELECT count(*) FROM mfa_failures f WHERE f.user_id = u.id"
      "  AND f.at > now() - make_interval(secs => $2)),"
      // The lockout lasts until the kMfaMaxFailures-th newest failure leaves the window.
      " (SELECT " +
          detail::micros("f.at + make_interval(secs => $2)") +
          " FROM mfa_failures f WHERE f.user_id = u.id"
          "  AND f.at > now() - make_interval(secs => $2) ORDER BY f.at DESC OFFSET $3 - 1 LIMIT 1)"
          " FROM users u WHERE u.name = $1 AND u.totp_secret IS NOT NULL FOR UPDATE OF u",
      user, static_cast<long long>(std::chrono::seconds(kMfaWindow).count()), kMfaMaxFailures);
  if (rows.empty()) return std::nullopt;
  TotpState state;
  state.user_id = rows[0][0].as<std::int64_t>();
  pqxx::binarystring sealed(rows[0][1]);
  state.sealed_secret.assign(sealed.data(), sealed.data() + sealed.size());
  if (!rows[0][2].is_null()) state.last_step = rows[0][2].as<std::int64_t>();
  state.recent_failures = rows[0][3].as<int>();
  state.locked_until = detail::optional_time_at(rows[0][4]);
  return state;
}

void record_success(pqxx::work& tx, const MfaAttempt& attempt, const TotpState& state,
                    std::int64_t step) {
  tx.exec_params("UPDATE users SET totp_last_step = $2 WHERE id = $1", state.user_id, step);
  audit(tx, attempt.user, "mfa.success", "user:" + attempt.user,
        nlohmann::json{{"client", attempt.client}}.dump());
}

void record_failure(pqxx::work& tx, const MfaAttempt& attempt, const TotpState& state,
                    const MfaVerdict& verdict) {
  tx.exec_params("INSERT INTO mfa_failures (user_id, node) VALUES ($1, $2)", state.user_id,
                 attempt.node);
  audit(tx, attempt.user, "mfa.failure", "user:" + attempt.user,
        nlohmann::json{
            {"reason", verdict.outcome == MfaOutcome::replayed ? "replayed code" : "wrong code"},
            {"client", attempt.client},
            {"node", attempt.node},
            {"failures_in_window", verdict.failures}}
            .dump());
}

// Not counted as a failure: guessing during a lockout cannot prolong it.
void record_locked_attempt(pqxx::work& tx, const MfaAttempt& attempt, const TotpState& state) {
  audit(tx, attempt.user, "mfa.failure", "user:" + attempt.user,
        nlohmann::json{{"reason", "locked"},
                       {"client", attempt.client},
                       {"node", attempt.node},
                       {"failures_in_window", state.recent_failures},
                       {"locked_until",
                        state.locked_until ? format_rfc3339(*state.locked_until) : std::string()}}
            .dump());
}

AlertEvent lockout_alert(const MfaAttempt& attempt, int failures) {
  return AlertEvent{"mfa_lockout", nlohmann::json{{"user", attempt.user},
                                                  {"client", attempt.client},
                                                  {"failures", failures},
                                                  {"window", format_duration(kMfaWindow)}}
                                       .dump()};
}

}  // namespace

std::string MfaVerdict::instruction() const {
  switch (outcome) {
    case MfaOutcome::accepted:
      return "";
    case MfaOutcome::replayed:
      return "That code was already used: wait for the next one.";
    case MfaOutcome::locked:
      return "Too many wrong codes: MFA is locked" +
             (locked_until ? " until " + format_rfc3339(*locked_until)
                           : std::string(" for a few minutes")) +
             "; an administrator can clear it (portcullis user mfa-reset).";
    case MfaOutcome::wrong:
    case MfaOutcome::not_enrolled:
      break;
  }
  return "Wrong code, try again.";
}

MfaVerdict decide_totp(const TotpState& state, std::span<const std::uint8_t> secret,
                       const MfaAttempt& attempt, TimePoint now) {
  MfaVerdict verdict;
  if (state.locked_until) {
    verdict.outcome = MfaOutcome::locked;
    verdict.locked_until = state.locked_until;
    return verdict;
  }
  verdict.step = totp::accept(secret, attempt.code, now, state.last_step);
  if (verdict.step) {
    verdict.outcome = MfaOutcome::accepted;
    return verdict;
  }
  // The right code for now, but its step was used already: a replay, told apart for the user.
  const bool replayed = totp::accept(secret, attempt.code, now, std::nullopt).has_value();
  verdict.outcome = replayed ? MfaOutcome::replayed : MfaOutcome::wrong;
  verdict.failures = state.recent_failures + 1;
  if (verdict.failures == kMfaMaxFailures) verdict.alert = lockout_alert(attempt, verdict.failures);
  return verdict;
}

MfaVerdict check_totp_code(pqxx::work& tx, const MfaAttempt& attempt, TimePoint now,
                           const OpenTotpSecret& open_secret) {
  const std::optional<TotpState> state = lock_totp_state(tx, attempt.user);
  MfaVerdict verdict;
  if (!state) {
    verdict.outcome = MfaOutcome::not_enrolled;
    return verdict;
  }
  if (state->locked_until) {
    verdict = decide_totp(*state, {}, attempt, now);
  } else {
    open_secret(state->sealed_secret, [&](std::span<const std::uint8_t> secret) {
      verdict = decide_totp(*state, secret, attempt, now);
    });
  }
  switch (verdict.outcome) {
    case MfaOutcome::accepted:
      record_success(tx, attempt, *state, *verdict.step);
      break;
    case MfaOutcome::locked:
      record_locked_attempt(tx, attempt, *state);
      break;
    case MfaOutcome::wrong:
    case MfaOutcome::replayed:
      record_failure(tx, attempt, *state, verdict);
      break;
    case MfaOutcome::not_enrolled:
      break;
  }
  return verdict;
}

}  // namespace portcullis::access
