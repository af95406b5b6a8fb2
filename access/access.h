// Public interface of the `access` library: users, targets, vaulted accounts, grants,
// sessions and the hash-chained audit log, all in PostgreSQL.
// Every function takes an open transaction; callers commit. Blocking: worker threads only.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace portcullis::access {

using Clock = std::chrono::system_clock;
using TimePoint = Clock::time_point;

// A request that cannot be carried out as asked (unknown user, duplicate name, bad key...).
// The message is fit to show to the person who asked.
class AccessError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct User {
  std::int64_t id = 0;
  std::string name;
  std::vector<std::string> roles;
  std::vector<std::string> public_keys;  // OpenSSH one-line format: "ssh-ed25519 AAAA... comment"
  bool disabled = false;
};

struct Target {
  std::int64_t id = 0;
  std::string name;
  std::string host;
  std::uint16_t port = 22;
  std::string host_key;  // pinned, OpenSSH one-line public key format
};

enum class CredentialKind { password, key };

struct Account {
  std::int64_t id = 0;
  std::int64_t target_id = 0;
  std::string target_name;
  std::string login;
  CredentialKind kind = CredentialKind::key;
  std::vector<std::uint8_t> sealed_secret;  // vault::Vault::seal(secret, account_context(...))
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
  TimePoint starts_at;
  TimePoint expires_at;
  std::optional<TimePoint> revoked_at;
  std::string revoke_reason;
};

enum class EndReason { client_exit, grant_expired, revoked, killed, upstream_closed, error };
std::string to_string(EndReason r);

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
};

// --- users -----------------------------------------------------------------
User add_user(pqxx::work& tx, const std::string& actor, const std::string& name,
              const std::vector<std::string>& public_keys, const std::vector<std::string>& roles);
std::optional<User> find_user(pqxx::work& tx, const std::string& name);
std::vector<User> list_users(pqxx::work& tx);
// "SHA256:..." (as ssh-keygen -l prints it) of an OpenSSH one-line public key.
// Throws AccessError when the line is not a public key.
std::string public_key_fingerprint(const std::string& openssh_line);

// --- targets and accounts ---------------------------------------------------
Target add_target(pqxx::work& tx, const std::string& actor, const std::string& name,
                  const std::string& host, std::uint16_t port, const std::string& host_key);
std::optional<Target> find_target(pqxx::work& tx, const std::string& name);
std::vector<Target> list_targets(pqxx::work& tx);
Account add_account(pqxx::work& tx, const std::string& actor, const std::string& target,
                    const std::string& login, CredentialKind kind,
                    const std::vector<std::uint8_t>& sealed_secret);
std::optional<Account> find_account(pqxx::work& tx, const std::string& target,
                                    const std::string& login);
std::vector<Account> list_accounts(pqxx::work& tx);
std::string to_string(CredentialKind kind);

// --- grants ----------------------------------------------------------------
Grant add_grant(pqxx::work& tx, const std::string& actor, const std::string& user,
                const std::string& target, const std::string& login, std::chrono::seconds duration,
                const std::string& reason, const std::string& ticket = "");
std::optional<Grant> find_grant(pqxx::work& tx, std::int64_t id);
std::vector<Grant> list_grants(pqxx::work& tx, bool active_only);
// Marks the grant revoked (now). Throws AccessError if unknown or already ended.
Grant revoke_grant(pqxx::work& tx, const std::string& actor, std::int64_t id,
                   const std::string& reason);

// --- admission ---------------------------------------------------------------
// What a connecting user may reach. `login` empty means "the one login the user's
// active grants on `target` cover".
struct Admission {
  Grant grant;
  Target target;
  Account account;
};
struct Denial {
  std::string reason;  // one line, says why and what to do; no "portcullis:" prefix
};
std::variant<Admission, Denial> admit(pqxx::work& tx, const std::string& user,
                                      const std::string& target, const std::string& login);

// --- sessions --------------------------------------------------------------
std::int64_t start_session(pqxx::work& tx, std::int64_t grant_id, const std::string& node,
                           const std::string& client);
void end_session(pqxx::work& tx, std::int64_t session_id, EndReason reason,
                 std::optional<int> exit_status);
std::vector<SessionRow> list_sessions(pqxx::work& tx, bool active_only);
// Asks the node holding the session to end it (sets kill_requested_at). Throws AccessError
// if unknown or already ended.
void request_session_kill(pqxx::work& tx, const std::string& actor, std::int64_t session_id);

// What a node must know about its live sessions, polled about twice a second.
struct SessionStatus {
  std::int64_t session_id = 0;
  TimePoint expires_at;  // may move later when a grant is extended
  bool revoked = false;
  bool kill_requested = false;
  std::int64_t grant_id = 0;
  std::optional<TimePoint> revoked_at;
  std::string revoke_reason;
};
std::vector<SessionStatus> session_statuses(pqxx::work& tx,
                                            const std::vector<std::int64_t>& session_ids);
// Marks sessions of `node` left open by a crash as ended with reason `error`.
void close_orphaned_sessions(pqxx::work& tx, const std::string& node);

// --- audit -----------------------------------------------------------------
// Appends one hash-chained row to audit_events (SHA-256 over a canonical encoding of
// the row and the previous row's hash), inside `tx`. `details` is a JSON object text.
void audit(pqxx::work& tx, const std::string& actor, const std::string& action,
           const std::string& object, const std::string& details_json = "{}");

}  // namespace portcullis::access
