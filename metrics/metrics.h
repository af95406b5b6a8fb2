// Public interface of the `metrics` library: portcullisd's Prometheus metrics and the HTTP
// endpoint that serves them ([metrics] listen). The daemon calls a typed method where something
// happens (a connection changes phase, a login is refused, a session ends late) and hands over,
// a few times a second, the totals other parts keep themselves (alerts, recordings, pools); no
// Prometheus type leaves this library. Every metric is listed in docs/metrics.md.
//
// Thread-safe: every method may be called from any thread. The event methods are an atomic add
// on a series resolved when the Metrics was built, never a lookup by label.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "metrics/config.h"

namespace portcullis::metrics {

// A client connection's phase (portcullis_connections{state}).
enum class ConnectionState {
  handshake,       // TCP accepted, SSH key exchange under way
  authenticating,  // public key, then TOTP code
  authenticated,   // waiting for a session or command request
  starting,        // admitted: the session row, the target's dial and login
  bridging,        // a session on a target
  control,         // a control command (request, grants, approve...)
  waiting,         // `connect` or `wait` waiting for a request to be decided
  watching,        // `watch` or `join`: showing another session
  draining,        // closed by the bastion, the client reading its notice
};
inline constexpr std::size_t kConnectionStates = 9;

// Why a session ended (portcullis_sessions_ended_total{reason}): access::EndReason's names.
enum class SessionEnd { client_exit, grant_expired, revoked, killed, upstream_closed, error };
inline constexpr std::size_t kSessionEnds = 6;

// A refused authentication attempt (portcullis_auth_failures_total{reason}).
enum class AuthFailure {
  invalid_name,       // a login name the bastion does not parse
  unknown_user,       // no such user
  user_disabled,      // the user is disabled
  unknown_key,        // a key not listed for the user
  bad_signature,      // a listed key with a signature that does not verify
  totp_wrong,         // a wrong TOTP code
  totp_replayed,      // a code already used
  mfa_locked_out,     // a code while the user is locked out after repeated failures
  totp_not_enrolled,  // a code asked for a user without a TOTP secret
  totp_unchecked,     // the code could not be checked (database trouble)
  sso_refused,        // the identity provider or its ID token refused the sign-in
  sso_unavailable,    // the identity provider could not be reached
};
inline constexpr std::size_t kAuthFailures = 12;

// Why an authenticated connection was refused a session (portcullis_admission_denials_total).
enum class Denial {
  database_unavailable,   // no grant can be checked
  unknown_user,           // the user is gone
  user_disabled,          // the user was disabled
  unknown_target,         // no target of that name
  unknown_login,          // the target has no such login
  ambiguous_login,        // grants for several logins: the login name must say which
  no_grant,               // no grant at all for the user there
  grant_pending,          // a request not yet approved, or a grant not yet started
  grant_expired,          // the grant (or the request) ended
  grant_revoked,          // the grant was revoked
  grant_denied,           // the request was denied
  rule_removed,           // the grant's policy rule is gone
  outside_hours,          // outside its rule's allowed hours
  mfa_not_enrolled,       // the rule asks for TOTP and the user has none
  mfa_not_given,          // `connect`: the rule asks for a code this connection did not give
  target_required,        // sftp or scp without a target in the login name
  max_sessions,           // [server] max_sessions reached
  max_sessions_per_user,  // [server] max_sessions_per_user reached
  session_unrecorded,     // the session row could not be written
  source_refused,         // the rule's source / deny_source refuse the client's address
  sign_in_method,         // the rule's auth asks for a key or SSO the connection did not use
};
inline constexpr std::size_t kDenials = 21;

// Why a target could not be reached (portcullis_upstream_failures_total{reason}).
enum class UpstreamFailure {
  unreachable,        // no TCP connection, or no SSH banner in time
  host_key_mismatch,  // the target's host key is not the pinned one
  login,              // the login with the vaulted credential or certificate failed
};
inline constexpr std::size_t kUpstreamFailures = 3;

// What ended a session from the database's side (portcullis_session_end_lateness_seconds{cause}).
enum class LateCause { revoke, kill, expiry };
inline constexpr std::size_t kLateCauses = 3;

// The daemon's database connections (portcullis_database_errors_total{pool}) and thread pools
// (portcullis_worker_queue_depth{pool}).
enum class Pool { workers, upstreams, oversight, metrics, journal, listener };
inline constexpr std::size_t kPools = 6;
inline constexpr std::size_t kThreadPools = 4;  // the first four have a queue

// Alert channels ([alerts] webhook, command, syslog).
enum class Sink { webhook, command, syslog };
inline constexpr std::size_t kSinks = 3;

// Connection limits (proxy/connection_limits.h) (portcullis_connection_limit_hits_total{limit}).
enum class Limit {
  max_startups,
  per_source_max_startups,
  auth_back_off,
  stalled_handshake,
  max_sessions,
  max_sessions_per_user,
};
inline constexpr std::size_t kLimits = 6;

// The label value of each (as docs/metrics.md lists them).
const char* name(ConnectionState state);
const char* name(SessionEnd end);
const char* name(AuthFailure failure);
const char* name(Denial denial);
const char* name(UpstreamFailure failure);
const char* name(LateCause cause);
const char* name(Pool pool);
const char* name(Sink sink);
const char* name(Limit limit);

// How late a session was closed after the moment the database says it had to end (both by the
// database's clock), in seconds; a session closed before that moment counts as 0.
double seconds_late(std::chrono::system_clock::time_point due,
                    std::chrono::system_clock::time_point closed);

// What the grants table says, counted every 15 s.
struct GrantCounts {
  std::uint64_t active = 0;              // approved, in their window, not revoked
  std::uint64_t scheduled = 0;           // approved, starting later
  std::uint64_t pending_requests = 0;    // requests waiting for approvals
  std::uint64_t pending_extensions = 0;  // extension requests waiting for approvals
};

// Totals and levels other parts keep themselves, read by the daemon a few times a second.
// Totals only grow (a smaller one than the last is ignored).
struct Sample {
  struct SinkCounts {
    std::uint64_t alerts_sent = 0;
    std::uint64_t alerts_failed = 0;  // given up on, or dropped (queue full, shutdown)
    std::uint64_t audit_rows_sent = 0;
    std::uint64_t audit_rows_failed = 0;
  };
  std::array<std::optional<SinkCounts>, kSinks> sinks;  // only the channels [alerts] sets up
  std::uint64_t recording_raw_bytes = 0;                // event bytes recorded, before compression
  std::uint64_t recording_stored_bytes = 0;             // compressed bytes written to spool files
  std::uint64_t spool_backlog_files = 0;
  std::uint64_t spool_backlog_bytes = 0;
  std::uint64_t live_queue_bytes = 0;
  double shipping_lag_seconds = 0;
  std::array<std::uint64_t, kPools> database_errors{};
  std::array<std::uint64_t, kThreadPools> queue_depth{};
  std::array<std::uint64_t, kLimits> limit_hits{};
};

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Serves /metrics on `config.listen`: starts the endpoint, moves it when the address changed,
  // or stops it when the address is "". Throws std::runtime_error, saying what to change, when
  // the address cannot be served (in use, not an address of this host); the endpoint then
  // stays where it was.
  void serve(const MetricsConfig& config);
  // The address served now, as civetweb reports it ("127.0.0.1:9322"); "" when off.
  std::string serving() const;
  // The exposition a scrape would return now.
  std::string text() const;

  // A connection entered a phase (nullopt: it did not exist before), or left one (nullopt: it
  // closed).
  void connection_moved(std::optional<ConnectionState> from, std::optional<ConnectionState> to);
  void session_started();  // a session row was opened
  void session_opened();   // a session is running (or waits for its moderator) on this node
  void session_closed();   // ... no longer
  void session_ended(SessionEnd reason);
  void auth_failed(AuthFailure reason);
  void admission_denied(Denial reason);
  void upstream_failed(UpstreamFailure reason);
  void ended_late(LateCause cause, std::chrono::system_clock::time_point due,
                  std::chrono::system_clock::time_point closed);
  void loop_lag(std::chrono::steady_clock::duration lag);
  // A count of the grants table succeeded (and when, for its timestamp gauge).
  void grants_counted(const GrantCounts& counts, std::chrono::system_clock::time_point at);
  void sampled(const Sample& sample);

 private:
  struct Series;
  struct Endpoint;
  std::unique_ptr<Series> series_;
  std::unique_ptr<Endpoint> endpoint_;
};

}  // namespace portcullis::metrics
