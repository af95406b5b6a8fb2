// Credential rotation's rows (schema 010): how each vaulted account is rotated, its state, and
// the claim a node takes while it rotates one. The SSH work is the rotation library's; this is
// only the database's side. Every function takes an open transaction; callers commit.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "access/access.h"

namespace portcullis::access {

enum class RotateMode { never, after_use };
std::string to_string(RotateMode mode);
// "never" or "after-use"; nullopt otherwise.
std::optional<RotateMode> parse_rotate_mode(std::string_view text);

// pending: an after-use account used since its secret was set (or whose last attempt failed),
// waiting for its grants and sessions to end, or for the next attempt.
enum class RotationState { ok, pending, rotating, rotation_failed };
std::string to_string(RotationState state);

struct RotationSettings {
  RotateMode mode = RotateMode::never;
  // The file the bastion edits on the target for a key account; relative to the login's home.
  std::string authorized_keys = ".ssh/authorized_keys";
};

// Sets how TARGET's account LOGIN is rotated; audited `account.rotation`. Throws AccessError
// when there is no such account or the path is unusable.
void set_account_rotation(pqxx::work& tx, const std::string& actor, const std::string& target,
                          const std::string& login, const RotationSettings& settings);

// What `portcullis account list` shows beside the account itself.
struct AccountStatus {
  Account account;
  RotationSettings rotation;
  TimePoint secret_set_at;  // when the vaulted secret was stored: added or last rotated
  std::optional<TimePoint> last_rotated_at;
  RotationState state = RotationState::ok;
  int failures = 0;        // consecutive failed rotations
  std::string last_error;  // of the last failed rotation; "" after a success
  std::optional<TimePoint> next_attempt_at;
};
// Every account, by target and login.
std::vector<AccountStatus> list_account_statuses(pqxx::work& tx);

// A node holds an account while it rotates it: the row says `rotating` with the node's name,
// and another node (or the CLI) takes it over only once the lease has run out, which only a
// crashed holder lets happen (a rotation's logins are bounded by their timeouts).
inline constexpr std::chrono::minutes kRotationLease{10};

struct RotationClaim {
  Account account;
  Target target;
  RotationSettings settings;
  int failures = 0;  // before this attempt
  std::string holder;
};

// Claims one after-use account due for rotation: used since its secret was set, no active
// grant on it, no open session, its retry time (if any) passed, and not held by another node.
// Skips rows other nodes are claiming at the same moment (FOR UPDATE SKIP LOCKED).
std::optional<RotationClaim> claim_due_rotation(pqxx::work& tx, const std::string& holder);
// Claims TARGET's account LOGIN now, whatever its mode (`portcullis account rotate`). Throws
// AccessError when it does not exist, has no secret to rotate, or is being rotated.
RotationClaim claim_rotation(pqxx::work& tx, const std::string& holder, const std::string& target,
                             const std::string& login);

// Keeps the new secret, sealed, beside the current one before the target is changed.
void keep_pending_secret(pqxx::work& tx, const RotationClaim& claim,
                         const std::vector<std::uint8_t>& sealed_secret);
// The new secret replaces the old and the account is `ok`; audits `credential.rotated` with
// `details` (a JSON object: fingerprints, never the secret). Throws AccessError when the claim
// was lost (the lease ran out and another holder took it).
void finish_rotation(pqxx::work& tx, const std::string& actor, const RotationClaim& claim,
                     const std::vector<std::uint8_t>& sealed_secret,
                     const std::string& details_json);

// A failed attempt, as the rotation library decided it.
struct RotationFailure {
  std::string error;  // never a secret
  int failures = 1;   // consecutive, this one included
  std::chrono::seconds retry_in{0};
  bool failed = false;  // state rotation_failed (else pending until the retry)
};
// Releases the claim, keeps the old secret, audits `credential.rotation_failed`.
void fail_rotation(pqxx::work& tx, const std::string& actor, const RotationClaim& claim,
                   const RotationFailure& failure);

}  // namespace portcullis::access
