// The TOTP policy of a login: which code is accepted, which is a replay, when a user is locked
// out and for how long, and what is audited and raised for each attempt. The proxy asks for a
// verdict and acts on it; it never counts failures or compares steps itself.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "access/access.h"
#include "access/workflow.h"

namespace portcullis::access {

// More failures than this within kMfaWindow lock further attempts until the window has passed.
inline constexpr int kMfaMaxFailures = 5;
inline constexpr std::chrono::minutes kMfaWindow{5};

// A user's TOTP row as one attempt finds it.
struct TotpState {
  std::int64_t user_id = 0;
  std::vector<std::uint8_t> sealed_secret;
  std::optional<std::int64_t> last_step;  // the last time step accepted (replay guard)
  int recent_failures = 0;                // within kMfaWindow
  // While locked out (kMfaMaxFailures within the window): when the lockout ends. Attempts
  // during a lockout are refused and do not count, so it cannot be kept alive by guessing.
  std::optional<TimePoint> locked_until;
};

enum class MfaOutcome { accepted, wrong, replayed, locked, not_enrolled };

struct MfaVerdict {
  MfaOutcome outcome = MfaOutcome::wrong;
  std::optional<std::int64_t> step;       // accepted: the step to store as the replay guard
  int failures = 0;                       // wrong or replayed: failures in the window, this one too
  std::optional<TimePoint> locked_until;  // locked: when the lockout ends, if known
  // Set on the failure that locks the user out: the alert to raise once the attempt commits.
  std::optional<AlertEvent> alert;

  bool accepted() const { return outcome == MfaOutcome::accepted; }
  // Shown with the next prompt: why this code was not accepted.
  std::string instruction() const;
};

// Who makes an attempt and from where, for the audit rows and the alert.
struct MfaAttempt {
  std::string user;
  std::string code;
  std::string node;
  std::string client;
};

// The decision alone, from the state, the opened secret and the time: no I/O.
MfaVerdict decide_totp(const TotpState& state, std::span<const std::uint8_t> secret,
                       const MfaAttempt& attempt, TimePoint now);

// Opens a sealed TOTP secret and calls `use` with it (the vault's job: access holds no keys).
using OpenTotpSecret =
    std::function<void(const std::vector<std::uint8_t>& sealed,
                       const std::function<void(std::span<const std::uint8_t>)>& use)>;

// One attempt, inside `tx`: locks the user's row (so two nodes cannot accept the same code),
// decides, and writes what the verdict calls for (the replay guard, a counted failure, the
// mfa.success or mfa.failure audit row). An attempt during a lockout is audited, not counted,
// and its secret is never opened.
MfaVerdict check_totp_code(pqxx::work& tx, const MfaAttempt& attempt, TimePoint now,
                           const OpenTotpSecret& open_secret);

}  // namespace portcullis::access
