#include "access/mfa_check.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "access/totp.h"

namespace portcullis::access {
namespace {

using namespace std::chrono_literals;

const std::vector<std::uint8_t> kSecret = {'1', '2', '3', '4', '5', '6', '7', '8', '9', '0',
                                           '1', '2', '3', '4', '5', '6', '7', '8', '9', '0'};
const TimePoint kNow = TimePoint{1111111111s};

MfaAttempt attempt_with(std::string code) {
  return MfaAttempt{"alice", std::move(code), "node1", "192.0.2.7"};
}

std::string code_now() { return totp::code_at(kSecret, totp::step_at(kNow)); }

// The code of this step is accepted, and its step becomes the replay guard.
TEST(MfaVerdict, AcceptsTheCurrentCode) {
  const MfaVerdict verdict = decide_totp(TotpState{}, kSecret, attempt_with(code_now()), kNow);
  EXPECT_TRUE(verdict.accepted());
  EXPECT_EQ(verdict.step, totp::step_at(kNow));
  EXPECT_EQ(verdict.failures, 0);
  EXPECT_FALSE(verdict.alert);
}

// A code whose step was used already is a replay: refused, counted, and told apart.
TEST(MfaVerdict, RefusesAReplayedCode) {
  TotpState state;
  state.last_step = totp::step_at(kNow);
  state.recent_failures = 1;
  const MfaVerdict verdict = decide_totp(state, kSecret, attempt_with(code_now()), kNow);
  EXPECT_EQ(verdict.outcome, MfaOutcome::replayed);
  EXPECT_EQ(verdict.failures, 2);
  EXPECT_EQ(verdict.instruction(), "That code was already used: wait for the next one.");
}

// A wrong code counts as a failure; no alert before the lockout.
TEST(MfaVerdict, CountsAWrongCode) {
  TotpState state;
  state.recent_failures = kMfaMaxFailures - 2;
  const MfaVerdict verdict = decide_totp(state, kSecret, attempt_with("000000"), kNow);
  EXPECT_EQ(verdict.outcome, MfaOutcome::wrong);
  EXPECT_EQ(verdict.failures, kMfaMaxFailures - 1);
  EXPECT_FALSE(verdict.alert);
  EXPECT_EQ(verdict.instruction(), "Wrong code, try again.");
}

// The failure that reaches the limit raises the mfa_lockout alert, once.
TEST(MfaVerdict, TheLockingFailureRaisesAnAlert) {
  TotpState state;
  state.recent_failures = kMfaMaxFailures - 1;
  const MfaVerdict verdict = decide_totp(state, kSecret, attempt_with("000000"), kNow);
  ASSERT_TRUE(verdict.alert);
  EXPECT_EQ(verdict.alert->kind, "mfa_lockout");
  const nlohmann::json fields = nlohmann::json::parse(verdict.alert->fields_json);
  EXPECT_EQ(fields["user"], "alice");
  EXPECT_EQ(fields["client"], "192.0.2.7");
  EXPECT_EQ(fields["failures"], kMfaMaxFailures);
  EXPECT_EQ(fields["window"], "5m");

  state.recent_failures = kMfaMaxFailures;
  EXPECT_FALSE(decide_totp(state, kSecret, attempt_with("000000"), kNow).alert);
}

// During a lockout even the right code is refused, and the attempt is not counted.
TEST(MfaVerdict, LockedOutRefusesTheRightCode) {
  TotpState state;
  state.recent_failures = kMfaMaxFailures;
  state.locked_until = kNow + 3min;
  const MfaVerdict verdict = decide_totp(state, kSecret, attempt_with(code_now()), kNow);
  EXPECT_EQ(verdict.outcome, MfaOutcome::locked);
  EXPECT_EQ(verdict.failures, 0);
  EXPECT_FALSE(verdict.step);
  EXPECT_FALSE(verdict.alert);
  EXPECT_EQ(verdict.instruction(), "Too many wrong codes: MFA is locked until " +
                                       format_rfc3339(kNow + 3min) +
                                       "; an administrator can clear it (portcullis user "
                                       "mfa-reset).");
}

// The code of the step before is accepted (clock skew), but not once a newer step was used.
TEST(MfaVerdict, ToleratesOneStepOfSkewButNotGoingBack) {
  const std::string previous = totp::code_at(kSecret, totp::step_at(kNow) - 1);
  EXPECT_TRUE(decide_totp(TotpState{}, kSecret, attempt_with(previous), kNow).accepted());
  TotpState state;
  state.last_step = totp::step_at(kNow);
  EXPECT_EQ(decide_totp(state, kSecret, attempt_with(previous), kNow).outcome,
            MfaOutcome::replayed);
}

}  // namespace
}  // namespace portcullis::access
