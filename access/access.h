// Public interface of the `access` library: users, targets, vaulted accounts, grants,
// sessions and the hash-chained audit log, all in PostgreSQL.
// Every function takes an open transaction; callers commit. Blocking: worker threads only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "store/journal.h"

namespace portcullis::access {

using Clock = std::chrono::system_clock;
using TimePoint = Clock::time_point;

// A request that cannot be carried out as asked (unknown user, duplicate name, bad key...).
// The message is fit to show to the person who asked.
class AccessError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Limits on text a person writes for others to read (reason, comment, note, ticket).
inline constexpr std::size_t kMaxReasonChars = 1000;
inline constexpr std::size_t kMaxTicketChars = 128;

// Checks free text before anything else looks at it (a pattern, the database): valid UTF-8,
// no NUL, at most `max_chars` characters and, when `required`, not empty. Throws AccessError
// naming `what` ("--reason"). Control characters are kept: they are stored exactly and shown
// inert (common inert_text).
void check_free_text(std::string_view value, std::string_view what, std::size_t max_chars,
                     bool required = true);

struct User {
  std::int64_t id = 0;
  std::string name;
  std::vector<std::string> roles;
  std::vector<std::string> public_keys;  // OpenSSH one-line format: "ssh-ed25519 AAAA... comment"
  bool disabled = false;
};

// The name in an audit actor, for a person to read: "bob" for "user:bob", "root" for
// "admin:root"; an actor without a prefix as it is.
std::string actor_name(std::string_view actor);

// The first of `held` (a user's roles) that is in `allowed`, or nullopt.
std::optional<std::string> role_among(const std::vector<std::string>& held,
                                      const std::vector<std::string>& allowed);

struct Target {
  std::int64_t id = 0;
  std::string name;
  std::string host;
  std::uint16_t port = 22;
  // How the bastion trusts the target's host key, one of the two (OpenSSH one-line public
  // keys; the other is empty): the key pinned, or the CA whose host certificates for the
  // target's name or host are accepted.
  std::string host_key;
  std::string host_ca;
};

// password and key: a secret sealed in the vault. certificate: no stored secret; each session
// logs in with a fresh key and a certificate the bastion's CA signs for it.
enum class CredentialKind { password, key, certificate };

struct Account {
  std::int64_t id = 0;
  std::int64_t target_id = 0;
  std::string target_name;
  std::string login;
  CredentialKind kind = CredentialKind::key;
  // vault::Vault::seal(secret, account_context(...)); empty for a certificate account.
  std::vector<std::uint8_t> sealed_secret;
};

// The vault context string binding a sealed secret to its account row.
std::string account_context(const std::string& target, const std::string& login);

enum class GrantState { pending, active, expired, revoked, denied };
std::string to_string(GrantState s);

struct Grant {
  std::int64_t id = 0;
  std::string user;
  std::string target;
  std::string login;
  std::string reason;
  std::string ticket;
  GrantState state = GrantState::active;  // computed against "now" when read
  // The window; unset (epoch) while the request is pending or after it was denied.
  TimePoint starts_at;
  TimePoint expires_at;
  std::optional<TimePoint> revoked_at;
  std::string revoke_reason;
  std::chrono::seconds duration{0};  // asked for; the window lasts this long once approved
  TimePoint requested_at;
  std::string created_by;
  std::string policy;  // the rule it was requested under; "" for grants made by an administrator
  int approvals_needed = 0;
  int approvals_given = 0;
  bool break_glass = false;
  std::optional<TimePoint> pending_until;  // a pending request expires then
  std::string denied_by;
  std::string deny_reason;
  std::optional<std::int64_t> extends;  // set on an extension: the grant it extends
  bool review_required = false;
  std::optional<TimePoint> reviewed_at;
  std::string reviewed_by;
  std::string review_note;
  bool has_window() const { return starts_at != TimePoint{}; }
};

struct Approval {
  std::string approver;
  TimePoint at;
  std::string comment;
};
std::vector<Approval> list_approvals(pqxx::work& tx, std::int64_t grant_id);

enum class EndReason { client_exit, grant_expired, revoked, killed, upstream_closed, error };
std::string to_string(EndReason r);
std::optional<EndReason> parse_end_reason(std::string_view text);  // nullopt when unknown

struct SessionRow {
  std::int64_t id = 0;
  std::int64_t grant_id = 0;
  std::string user;
  std::string target;
  std::string login;
  std::string node;
  std::string client;  // "ip:port"
  TimePoint started_at;
  std::optional<TimePoint> ended_at;
  std::optional<EndReason> end_reason;
  std::optional<int> exit_status;
  // What the certificate it logged in with says (JSON, see record_session_certificate); empty
  // for a vaulted credential.
  std::string certificate_json;
};

// --- users -----------------------------------------------------------------
User add_user(pqxx::work& tx, const std::string& actor, const std::string& name,
              const std::vector<std::string>& public_keys, const std::vector<std::string>& roles);
std::optional<User> find_user(pqxx::work& tx, const std::string& name);
std::vector<User> list_users(pqxx::work& tx);

// A sign-in through the OpenID provider (identity/), as verified: who, and the roles its groups
// map to.
struct SsoSignIn {
  std::string username;
  std::string issuer;
  std::string subject;
  std::vector<std::string> groups;
  std::vector<std::string> roles;
  bool create_missing = false;  // [identity.oidc] provision = "create"
  std::string client;           // the client's address, for the audit row
};
// Applies `sign_in` to its user: created if missing and allowed; bound to the IdP account
// (issuer, subject) on first use and refused for another one later; refused when disabled;
// roles replaced by the mapped ones (audited user.roles_changed). Audits sso.signed_in.
// Throws AccessError saying why a sign-in is refused.
User apply_sso_sign_in(pqxx::work& tx, const SsoSignIn& sign_in);

// Disables a user: new logins are refused, their active grants are revoked (so their live
// sessions end within a second, with the revocation notice) and their pending requests are
// denied, each audited, in `tx`. Throws AccessError when unknown or already disabled.
struct UserDisabled {
  std::vector<std::int64_t> grants_revoked;
  std::vector<std::int64_t> requests_denied;
};
UserDisabled disable_user(pqxx::work& tx, const std::string& actor, const std::string& name,
                          const std::string& reason);
// Throws AccessError when unknown or not disabled. Revoked grants stay revoked.
void enable_user(pqxx::work& tx, const std::string& actor, const std::string& name);
// Adds one OpenSSH public key line to the user; returns its fingerprint. Throws AccessError
// when the user is unknown, the line is not a key, or the user has it already.
std::string add_user_key(pqxx::work& tx, const std::string& actor, const std::string& name,
                         const std::string& public_key);
// Removes the key named by its fingerprint ("SHA256:...") or by a public key line; returns its
// fingerprint. Refuses to remove a user's last key (disable the user instead).
std::string remove_user_key(pqxx::work& tx, const std::string& actor, const std::string& name,
                            const std::string& key);
// "SHA256:..." (as ssh-keygen -l prints it) of an OpenSSH one-line public key.
// Throws AccessError when the line is not a public key.
std::string public_key_fingerprint(const std::string& openssh_line);

// --- targets and accounts ---------------------------------------------------
// How a new target's host key is trusted: this key pinned, or host certificates from this CA.
struct HostTrust {
  std::string public_key;  // OpenSSH one-line public key
  bool is_ca = false;
};
Target add_target(pqxx::work& tx, const std::string& actor, const std::string& name,
                  const std::string& host, std::uint16_t port, const HostTrust& trust);
std::optional<Target> find_target(pqxx::work& tx, const std::string& name);
std::vector<Target> list_targets(pqxx::work& tx);
// `sealed_secret` is empty for a certificate account, and only then.
Account add_account(pqxx::work& tx, const std::string& actor, const std::string& target,
                    const std::string& login, CredentialKind kind,
                    const std::vector<std::uint8_t>& sealed_secret);
std::optional<Account> find_account(pqxx::work& tx, const std::string& target,
                                    const std::string& login);
std::vector<Account> list_accounts(pqxx::work& tx);
std::string to_string(CredentialKind kind);

// --- SSH certificate authorities ---------------------------------------------
// One Ed25519 user CA key of the bastion. Its secret is sealed in the vault under
// ssh_ca_context(fingerprint), so every node on the database signs with the same CA.
struct SshCa {
  std::int64_t id = 0;
  std::string public_key;   // "ssh-ed25519 AAAA..."
  std::string fingerprint;  // "SHA256:..."
  std::vector<std::uint8_t> sealed_secret;
  TimePoint created_at;
  std::optional<TimePoint> retired_at;
};
std::string ssh_ca_context(const std::string& fingerprint);
// Adds a key, which signs from now on; audited `ca.created` (the first) or `ca.rotated`.
SshCa add_ssh_ca(pqxx::work& tx, const std::string& actor, const std::string& public_key,
                 const std::vector<std::uint8_t>& sealed_secret);
std::vector<SshCa> list_ssh_cas(pqxx::work& tx, bool include_retired);
// The newest key not retired: the one that signs. Nullopt before `portcullis init`.
std::optional<SshCa> signing_ssh_ca(pqxx::work& tx);
// Stops listing the key for targets (`ca.retired`). Throws AccessError for the signing key.
SshCa retire_ssh_ca(pqxx::work& tx, const std::string& actor, std::int64_t id);
// Stores what a session's certificate says (serial, key id, validity, CA) in its row and
// audits `credential.certificate_issued` with it.
void record_session_certificate(pqxx::work& tx, std::int64_t session_id, const std::string& actor,
                                const std::string& certificate_json);

// --- grants ----------------------------------------------------------------
Grant add_grant(pqxx::work& tx, const std::string& actor, const std::string& user,
                const std::string& target, const std::string& login, std::chrono::seconds duration,
                const std::string& reason, const std::string& ticket = "");
std::optional<Grant> find_grant(pqxx::work& tx, std::int64_t id);
std::vector<Grant> list_grants(pqxx::work& tx, bool active_only);
// Marks the grant revoked (now). Revoking an approved extension takes its time back from the
// grant it extends. Throws AccessError if unknown or already ended.
Grant revoke_grant(pqxx::work& tx, const std::string& actor, std::int64_t id,
                   const std::string& reason);
// How many grants are current, by the database's clock (portcullisd's metrics). Only rows
// whose end is not yet audited are read, so the cost follows the current grants, not history.
struct GrantTally {
  std::uint64_t active = 0;              // approved, in their window, not revoked
  std::uint64_t scheduled = 0;           // approved, starting later
  std::uint64_t pending_requests = 0;    // requests waiting for approvals
  std::uint64_t pending_extensions = 0;  // extension requests waiting for approvals
};
GrantTally tally_grants(pqxx::work& tx);

// --- admission ---------------------------------------------------------------
// What a connecting user may reach. `login` empty means "the one login the user's
// active grants on `target` cover".
struct Admission {
  Grant grant;
  Target target;
  Account account;
  // When the governing rule's allowed hours end, with [[policy]] enforce_hours = "session"
  // (the session ends then, warned like a grant's end); unset otherwise.
  std::optional<TimePoint> hours_end;
  std::string hours;  // the rule's hours as written, for the notice
};
struct Denial {
  // What is missing, for counting refusals (portcullisd's metrics); the reason says it to people.
  enum class Kind {
    unknown_user,
    user_disabled,
    unknown_target,
    unknown_login,
    ambiguous_login,
    no_grant,
    grant_pending,  // a request not yet approved, or a grant whose window has not started
    grant_expired,  // the grant, or the request, ended
    grant_revoked,
    grant_denied,
    rule_removed,  // the grant's rule is no longer in the policy
    outside_hours,
    mfa_not_enrolled,
    mfa_not_given,  // the rule asks for a TOTP code the connection did not give
    source_refused,  // the rule's source / deny_source refuse the client's address
    sign_in_method,  // the rule's auth asks for a key or SSO the connection did not use
  };
  Kind kind;
  std::string reason;  // one line, says why and what to do; no "portcullis:" prefix
};
std::variant<Admission, Denial> admit(pqxx::work& tx, const std::string& user,
                                      const std::string& target, const std::string& login);

// --- sessions --------------------------------------------------------------
// `boot` names the daemon run that opens the session (see close_orphaned_sessions).
std::int64_t start_session(pqxx::work& tx, std::int64_t grant_id, const std::string& node,
                           const std::string& client, const std::string& boot);
// Records the end (once: a session already ended keeps its first end) as of `ended_at`.
void end_session(pqxx::work& tx, std::int64_t session_id, EndReason reason,
                 std::optional<int> exit_status, TimePoint ended_at);
// Which sessions list_sessions returns; every field set narrows it (they combine with AND).
struct SessionFilter {
  bool active_only = false;
  std::string user;                      // "" = every user
  std::string target;                    // "" = every target
  std::optional<TimePoint> since;        // started at or after
  std::optional<std::int64_t> grant_id;  // under this grant
};
// Oldest first.
std::vector<SessionRow> list_sessions(pqxx::work& tx, const SessionFilter& filter = {});
// The newest `limit` sessions (0: all) that `filter` selects and that started by `until` (if
// given), newest first: a page of a listing, without reading the whole history.
std::vector<SessionRow> recent_sessions(pqxx::work& tx, const SessionFilter& filter,
                                        const std::optional<TimePoint>& until, std::size_t limit);
std::optional<SessionRow> find_session(pqxx::work& tx, std::int64_t session_id);
// Asks the node holding the session to end it (sets kill_requested_at), which tells the user
// who ended it and `reason` (free text, may be empty). Throws AccessError if unknown or already
// ended, or when the reason is not acceptable text.
void request_session_kill(pqxx::work& tx, const std::string& actor, std::int64_t session_id,
                          const std::string& reason = "");

// What a node must know about its live sessions, polled about twice a second.
struct SessionStatus {
  std::int64_t session_id = 0;
  TimePoint expires_at;  // may move later when a grant is extended
  bool revoked = false;
  bool kill_requested = false;
  std::int64_t grant_id = 0;
  std::optional<TimePoint> revoked_at;
  std::string revoke_reason;
  std::string kill_requested_by;  // "user:bob", "admin:root"; "" unless kill_requested
  std::string kill_reason;
  std::optional<TimePoint> kill_requested_at;
};
std::vector<SessionStatus> session_statuses(pqxx::work& tx,
                                            const std::vector<std::int64_t>& session_ids);
// Now, by the database's clock: what every deadline a node arms is measured against.
TimePoint database_now(pqxx::work& tx);
// Marks sessions of `node` left open by an earlier run (a crash; `boot` is the current run) as
// ended with reason `error` at `restarted_at`.
void close_orphaned_sessions(pqxx::work& tx, const std::string& node, const std::string& boot,
                             TimePoint restarted_at);

// --- the daemon's journal (store/journal.h) --------------------------------
// What a node owes the database goes through its journal: built by these functions (the
// daemon adds the entry's id) and applied by apply_journal_entry, in journal order.
store::JournalEntry journal_audit(const std::string& actor, const std::string& action,
                                  const std::string& object, const std::string& details_json);
store::JournalEntry journal_session_end(std::int64_t session_id, EndReason reason,
                                        std::optional<int> exit_status, TimePoint ended_at);
// close_orphaned_sessions for this node, after every end an earlier run journaled.
store::JournalEntry journal_orphans(const std::string& node, const std::string& boot,
                                    TimePoint restarted_at);
// Applies one entry in `tx` unless a replay already did (then returns false). An audit row
// written a second or more after it happened says when it happened ("occurred_at" in its
// details). Throws std::invalid_argument for an entry this daemon never writes.
bool apply_journal_entry(pqxx::work& tx, const store::JournalEntry& entry);
// Forgets the ids of applied entries once the journal file no longer holds them.
void forget_journal_entries(pqxx::work& tx, const std::vector<std::string>& entry_ids);

// A session end still in a node's journal (not yet in the database).
struct QueuedSessionEnd {
  EndReason reason = EndReason::error;
  std::optional<int> exit_status;
  TimePoint at;
};
// The session ends held by `journal`, by session id (for `session list`: such a session is
// "ending", not running). Entries this version does not understand are skipped.
std::map<std::int64_t, QueuedSessionEnd> queued_session_ends(const store::JournalContents& journal);

// --- MFA (TOTP) ------------------------------------------------------------
// The vault context binding a sealed TOTP secret to its user.
std::string totp_context(const std::string& user);
bool totp_enrolled(pqxx::work& tx, const std::string& user);
// Stores (or replaces) the user's sealed TOTP secret; the replay guard starts afresh.
void set_totp_secret(pqxx::work& tx, const std::string& actor, const std::string& user,
                     const std::vector<std::uint8_t>& sealed_secret);
// A login's TOTP attempt (verdict, replay guard, lockout): access/mfa_check.h.

// Clears the user's recent failures (and so a lockout): `portcullis user mfa-reset`. Throws
// AccessError when there is no such user. Returns how many failures were cleared.
int reset_mfa_failures(pqxx::work& tx, const std::string& actor, const std::string& user);

// --- audit -----------------------------------------------------------------
// Appends one hash-chained row to audit_events (SHA-256 over a canonical encoding of
// the row and the previous row's hash), inside `tx`. `details` is a JSON object text.
void audit(pqxx::work& tx, const std::string& actor, const std::string& action,
           const std::string& object, const std::string& details_json = "{}");

struct AuditEvent {
  std::int64_t id = 0;
  std::string at;  // RFC 3339 UTC with microseconds, exactly as hashed
  std::string actor;
  std::string action;
  std::string object;
  std::string details_json;
  std::string hash;  // the row's chain hash, 32 raw bytes
};
struct AuditFilter {
  std::optional<TimePoint> since;
  std::optional<TimePoint> until;  // at or before
  std::string user;    // matches the actor or a "user" field in the details; "" = everyone
  std::string action;  // "" = every action
  std::string object;  // "session:42"; "" = every object
  std::size_t limit = 1000;
};
// Newest last.
std::vector<AuditEvent> list_audit(pqxx::work& tx, const AuditFilter& filter);

// The newest row: what `portcullis audit head` prints for keeping elsewhere. nullopt when the
// log is empty.
std::optional<AuditEvent> audit_head(pqxx::work& tx);

// --- signed checkpoints of the chain's head (audit_checkpoints.cpp) ----------
struct AuditCheckpoint {
  std::int64_t id = 0;
  std::string node;
  std::string key_fingerprint;  // "SHA256:...", the node_keys row that verifies it
  std::int64_t last_id = 0;
  std::string last_hash;  // 32 raw bytes
  std::string at;         // RFC 3339 UTC with microseconds, as signed
  std::string signature;  // 64 raw bytes, Ed25519
};
// The bytes a checkpoint's signature covers.
std::string checkpoint_message(const AuditCheckpoint& checkpoint);
// Signs `message` with the node's key; returns the 64-byte signature.
using CheckpointSigner = std::function<std::string(std::string_view message)>;
// Signs the head of the chain and stores the checkpoint, unless the head is row
// `signed_up_to` or older (what this node signed last: a node trusts only its own checkpoints
// to decide, so a forged row cannot stop it signing); nullopt when there was nothing new.
std::optional<AuditCheckpoint> checkpoint_audit_head(pqxx::work& tx, const std::string& node,
                                                     const std::string& key_fingerprint,
                                                     const CheckpointSigner& sign,
                                                     std::int64_t signed_up_to);
// Every checkpoint, oldest first.
std::vector<AuditCheckpoint> list_checkpoints(pqxx::work& tx);
std::optional<AuditCheckpoint> latest_checkpoint(pqxx::work& tx);
// Checkpoints are written about this often while rows are written (by a running portcullisd).
inline constexpr std::chrono::seconds kCheckpointInterval{5};

struct AuditVerifyOptions {
  // Public keys that may sign checkpoints: fingerprint -> 32-byte Ed25519 key (node_keys).
  std::map<std::string, std::string> node_keys;
  // A row id and its 32-byte hash kept elsewhere (`audit head`): the row must be there with
  // that hash, which proves nothing up to it was rewritten or removed.
  std::optional<std::pair<std::int64_t, std::string>> anchor;
  // Rows this much older than the database's clock must be covered by a checkpoint; older
  // uncovered rows mean the newest checkpoints were removed (or no daemon signed them).
  // Zero: not checked.
  std::chrono::seconds max_checkpoint_age{60};
};
struct AuditVerification {
  bool intact = true;
  std::int64_t rows = 0;
  std::optional<std::int64_t> bad_row;  // the first row found altered, inserted or after a gap
  std::string problem;                  // one line: what is wrong with bad_row
  std::int64_t checkpoints = 0;         // verified: signature, row and hash
  std::optional<AuditCheckpoint> newest_checkpoint;
  std::int64_t uncovered_rows = 0;  // newer than the newest checkpoint (written since)
  bool anchor_matched = false;
};
// Walks the whole chain in id order, recomputing every hash, then checks every checkpoint
// (signature, and that its row is still there with the hash it signed), the anchor, and that
// the newest rows are not older than a checkpoint should be.
AuditVerification verify_audit(pqxx::work& tx, const AuditVerifyOptions& options = {});

// --- the audit stream ([alerts] audit_stream) -----------------------------------
// Rows after the stream's position, oldest first, at most `limit`; the position row stays
// locked until `tx` ends so one node streams at a time. nullopt when another node holds it.
std::optional<std::vector<AuditEvent>> claim_audit_stream(pqxx::work& tx, std::size_t limit);
// Moves the position (under the lock claim_audit_stream took) past `last_id`.
void advance_audit_stream(pqxx::work& tx, std::int64_t last_id);

}  // namespace portcullis::access
