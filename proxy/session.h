// One client connection: key exchange, public-key authentication, admission against the
// grant, the upstream login, the bridge, and the end of the session (client exit, grant
// expiry, revocation, kill). Everything here runs on the loop thread; blocking work goes
// to the worker pool and comes back as a posted callback.
//
// The methods are grouped by concern, a file each (as sshd's auth2-pubkey.c, auth2-kbdint.c,
// session.c): session.cpp is the phase machine and the end of a session; session_auth_key.cpp,
// session_auth_totp.cpp, session_channels.cpp, session_admission.cpp, session_upstream.cpp,
// session_bridging.cpp, session_control.cpp, session_waiting.cpp and session_notices.cpp the
// rest. SessionExpiry (session_expiry.h) owns the grant's end and the warnings before it.
#pragma once

#include <libssh/callbacks.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>

#include "access/access.h"
#include "access/mfa_check.h"
#include "access/policy.h"
#include "access/workflow.h"
#include "common/common.h"
#include "identity/oidc.h"
#include "metrics/metrics.h"
#include "oversight/watcher.h"
#include "proxy/bridge.h"
#include "proxy/byte_observer.h"
#include "proxy/connection_limits.h"
#include "proxy/control.h"
#include "proxy/database_clock.h"
#include "proxy/event_loops.h"
#include "proxy/journal.h"
#include "proxy/login_name.h"
#include "proxy/observed.h"
#include "proxy/peer_input.h"
#include "proxy/session_certificate.h"
#include "proxy/session_expiry.h"
#include "proxy/ssh_handles.h"
#include "proxy/upstream.h"
#include "proxy/upstream_dial.h"
#include "proxy/worker_pool.h"
#include "recorder/service.h"
#include "settings/running.h"
#include "settings/settings.h"

namespace portcullis::proxy {

class SessionRegistry;
struct CommandMatch;  // proxy/command_alerts.h

// Shared by all sessions of one event loop (proxy/event_loops.h); outlives them. Everything
// but `loop` and the pools' views is the same object for every loop, safe across threads.
struct GatewayContext {
  boost::asio::io_context& loop;  // the sessions' own: they never leave it
  // As the daemon started: read only what a reload cannot change ([server]'s socket and node
  // name, [database], [recording]...); the rest from `live`.
  const Config& config;
  // The policy, [access], [oversight], alert rules and [server]'s limits, replaced whole by a
  // reload: take current() once per decision and keep it for the decision's jobs.
  const LiveConfig& live;
  ssh_bind bind;
  LoopWorkers workers;         // admission, MFA, control commands: the database
  LoopWorkers upstreams;       // logins to targets: no database, bounded by upstream_timeout
  const DatabaseClock& clock;  // grants end by the database's clock, not this node's
  Journal& journal;            // every write the daemon owes the database after the fact
  ConnectionLimits& limits;
  const vault::Vault& vault;
  SessionRegistry& registry;
  recorder::RecordingService& recordings;
  // Hands an alert to the dispatcher; never blocks. Call only after the change is committed.
  std::function<void(const access::AlertEvent&)> raise_alert;
  metrics::Metrics& metrics;  // what sessions count: phases, refusals, ends
  // [identity.oidc]: sign-in through the OpenID provider; nullptr when not configured.
  std::shared_ptr<identity::OidcClient> oidc;
};

class Session : public std::enable_shared_from_this<Session>, private SessionExpiry::Events {
 public:
  // `context` is the loop's the connection was placed on (`placement`); `startup` is its place
  // among those not yet authenticated (ConnectionLimits). Made on the accepting thread; from
  // start() on, used only on its own loop's thread.
  Session(GatewayContext& context, EventLoops::Placement placement, int client_fd,
          std::string client_address, ConnectionLimits::Slot startup);
  ~Session() override;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Starts the handshake, after `delay` when the client's address is backing off.
  void start(std::chrono::milliseconds delay = std::chrono::milliseconds::zero());

  // Ends the session from the bastion's side, telling the client why on stderr. `due`: when the
  // database says it had to end (revoked_at, the kill request, the grant's end), for the
  // lateness metric.
  void terminate(access::EndReason reason, const std::string& notice,
                 std::optional<access::TimePoint> due = std::nullopt);

  // The grant's end moved (an extension, or a revoked one taken back) or is confirmed;
  // re-arms the expiry timer.
  void set_expiry(access::TimePoint expires_at);
  // A request was decided or changed somewhere (NOTIFY): a session waiting on it (`connect`,
  // `wait`) looks again now instead of at its next poll.
  void decision_may_have_changed();
  // Who watches or has joined this session now, as the database says (every status check):
  // each arrival and departure is told to the user ([oversight] announce) and marked in the
  // recording (session_oversight.cpp).
  void set_participants(std::vector<access::Participant> present);
  // Keys typed by `author`, who joined this session on some node (NOTIFY portcullis_input).
  void type_joined(const std::string& author, const std::string& keys);

  const std::string& user() const { return user_; }
  std::uint64_t connection_id() const { return connection_id_; }

 private:
  enum class Phase {
    key_exchange,
    authenticating,
    ready,
    starting,
    bridging,
    control,   // running a control command or writing its reply
    waiting,   // a control command waiting for a request to be decided (connect, wait)
    watching,  // `watch`, `join`: showing another session live
    draining,
    closed
  };
  // Within Phase::authenticating.
  enum class AuthStep {
    offering_key,   // public keys are answered against the identity looked up
    looking_up,     // the identity of a login name is being looked up; offers queue
    totp_due,       // the public key was accepted; a TOTP code must follow
    checking_totp,  // a TOTP code is being checked
    sso_due,        // an SSO sign-in must follow (after the key, or instead of one)
    sso_starting,   // the IdP is being asked for a user code
    sso_polling,    // the code was shown; the IdP is asked whether the person signed in
    sso_applying,   // signed in at the IdP: the user and its roles are being updated
  };
  // The session's row in the database: its end is written once.
  enum class SessionRow { none, open, closed };
  // Every change of phase_: portcullis_connections{state} follows it (session_metrics.cpp),
  // and leaving starting/bridging gives the target session's place back to the registry.
  struct PhaseChange {
    metrics::Metrics* metrics;
    SessionRegistry* registry;
    std::uint64_t connection_id;
    void operator()(std::optional<Phase> from, std::optional<Phase> to) const noexcept;
  };
  // portcullis_sessions_active follows row_ (session_metrics.cpp).
  struct RowCount {
    metrics::Metrics* metrics;
    void operator()(std::optional<SessionRow> from, std::optional<SessionRow> to) const noexcept;
  };
  static std::optional<metrics::ConnectionState> connection_state(Phase phase);  // closed: none
  // A start request refused: what to count, and what to tell the client.
  struct Refusal {
    metrics::Denial kind;
    std::string reason;
  };
  // Within Phase::waiting.
  enum class WaitStep {
    watching,   // until the next look (a NOTIFY or the poll)
    looking,    // a look at the request is running
    admitting,  // approved: the connection is being admitted (`connect`)
  };

  // What the database says about the name the client logs in with.
  struct Identity {
    std::string login_name;
    std::optional<LoginName> parsed;
    std::optional<access::User> user;
    std::variant<std::monostate, access::Admission, access::Denial> admission;
    bool database_unavailable = false;
    bool mfa_required = false;  // a TOTP code must follow the public key
    bool sso_required = false;  // an SSO sign-in must follow the public key
  };

  // A waiting session's look at its request.
  struct DecisionCheck {
    access::Grant grant;
    std::vector<access::Approval> approvals;
  };

  struct StartResult {
    std::int64_t record_id = 0;
    std::vector<access::Approval> approvals;  // of the grant, for the recording's header
    UpstreamResult upstream;
    std::string failure;  // set when the session could not be recorded
    // Certificate accounts: the session's fresh key and certificate, issued with the row.
    std::optional<IssuedCertificate> certificate;
  };

  // fault barrier: every entry from the loop (readiness, timers, worker results) runs its
  // body through guarded(); an exception ends this connection, never the daemon.
  template <typename Body>
  void guarded(const char* where, Body&& body) noexcept {
    try {
      body();
    } catch (const std::exception& e) {
      fail(where, e.what());
    } catch (...) {
      fail(where, "unknown exception");
    }
  }
  void fail(const char* where, const std::string& why) noexcept;

  // Another connection took this one's place among those not yet authenticated.
  void evicted();

  // event loop plumbing
  void pump();
  void pump_unguarded();
  void watch();
  bool work_pending();
  std::uint64_t packets_received() const;
  void watch_descriptor(boost::asio::posix::stream_descriptor& descriptor, ssh_session session,
                        bool& read_armed, bool& write_armed);

  // messages from the client
  void process_messages();
  void handle_message(SshMessage message);

  // public-key authentication (session_auth_key.cpp)
  void handle_auth(SshMessage message);
  void answer_public_key(SshMessage message);
  void look_up_identity(const std::string& login_name);
  // The identity of `login_name` in `tx`, as a connection that used a key and/or SSO sees it.
  static Identity find_identity(pqxx::work& tx, const std::string& login_name,
                                const access::Policy& policy,
                                const access::ConnectionFacts& facts, access::TimePoint now);
  void on_identity(const std::string& login_name, Outcome<Identity> outcome);
  static metrics::AuthFailure key_refusal(const Identity& identity, bool key_listed);
  void note_auth_failure(const std::string& login_name, metrics::AuthFailure reason,
                         const std::string& why);
  void complete_authentication(SshMessage message);

  // keyboard-interactive TOTP (session_auth_totp.cpp)
  void handle_keyboard_interactive(SshMessage message);
  // SSO through the device flow (session_auth_sso.cpp).
  bool sso_offered() const;
  void handle_sso(SshMessage message);
  int offered_methods() const;
  std::optional<std::string> login_name_or_refuse(ssh_message message);
  void begin_sso_without_key(SshMessage message);
  void start_sso(SshMessage message);
  void on_device_authorization(Outcome<identity::DeviceAuthorization> outcome);
  void poll_sso();
  void on_sso_poll(Outcome<identity::TokenPoll> outcome);
  void on_sso_applied(Outcome<Identity> outcome);
  void refuse_sso(metrics::AuthFailure reason, const std::string& why, const std::string& audit_reason);
  // What the connection proved, for the workflow's checks.
  access::Actor actor() const;
  void check_totp(SshMessage answer, std::string code);
  void on_totp(SshMessage answer, Outcome<access::MfaVerdict> outcome);

  // channel requests (session_channels.cpp)
  void handle_channel_open(SshMessage message);
  void handle_channel_request(SshMessage message);
  bool accept_pty(ssh_message message);
  bool accept_env(ssh_message message);
  void resize(const peer::TerminalSize& size);
  void note_refusal(const std::string& action, const std::string& what, nlohmann::json details);
  void refuse_request(SshMessage message, const std::string& why);
  static void on_client_signal(ssh_session, ssh_channel, const char* signal,
                               void* userdata) noexcept;

  // admission (session_admission.cpp)
  void handle_start(SshMessage message, StartKind kind, std::string command);
  std::optional<Refusal> denial_reason() const;
  std::optional<Refusal> hold_target_session();
  void deny(const Refusal& refusal);

  // the session row, the target and the recording (session_upstream.cpp)
  void start_upstream(const access::Admission& admission);
  void reach_target(const access::Admission& admission, StartResult recorded);
  void log_in_upstream(const access::Admission& admission, StartResult recorded, Dialled dialled,
                       std::chrono::steady_clock::time_point deadline);
  void arm_login_timer();
  void on_upstream(StartResult result);
  void begin_bridging(UpstreamConnection connection, const access::Admission& admission,
                      const StartResult& started);
  void start_recording(const access::Admission& admission, const StartResult& started);
  void on_recording_failure(const std::string& why);
  void record_marker(const std::string& text);

  // command alert rules (session_command_alerts.cpp)
  void watch_commands(const access::Admission& admission);
  void on_command_match(const CommandMatch& match, const std::string& reason);

  // control commands (session_control.cpp)
  void run_control(const std::string& command_line);
  void flush_control_reply();
  void end_control(std::string err, int exit_status);

  // waiting for a decision (session_waiting.cpp)
  void begin_waiting(const FollowUp& follow_up);
  void arm_decision_check(std::chrono::milliseconds delay);
  void check_decision();
  void on_decision(Outcome<DecisionCheck> outcome);
  void read_while_waiting();
  void withdraw_on_interrupt();
  void connect_after_approval(const access::Grant& grant);
  void on_connect_admission(Outcome<std::variant<access::Admission, access::Denial>> outcome);

  // showing another session live (session_watching.cpp)
  void begin_watching(WatchFollowUp watch);
  void arm_watch_look(std::chrono::milliseconds delay);
  void look_at_watched();
  void on_watch_look(Outcome<oversight::WatchUpdate> outcome);
  void read_while_watching();
  void on_watch_action(const player::WatchKeys::Action& action);
  void draw_watch();
  void end_watching(const std::string& message, int exit_status);
  void leave_watched();
  void send_joined_keys();
  // moderated sessions (session_oversight.cpp)
  bool needs_moderator(const access::Admission& admission) const;
  void wait_for_moderator(const access::Admission& admission, StartResult recorded);
  void moderators_changed(bool had_moderator);
  static std::string participant_marker(const access::Participant& p, bool started);

  // bridging (session_bridging.cpp)
  void check_bridge();
  void forward_exit_to_client();
  void drop_upstream();

  // SessionExpiry::Events
  void expiry_notice(const std::string& notice, const std::string& marker) override;
  bool expiry_warning(const std::string& notice, const std::string& marker) override;
  void expiry_reached(access::EndReason reason, const std::string& notice,
                      std::optional<access::TimePoint> due) override;

  // notices on the client's stderr (session_notices.cpp)
  void refuse(const std::string& notice);
  void end_with_notice(const std::string& text);
  void write_notice(const std::string& text);
  bool flush_notice();  // true when all of it reached the channel
  void close_client_channel();

  // end of session
  void end_from_bastion(access::EndReason reason, const std::string& notice,
                        std::optional<access::TimePoint> due);
  void count_lateness(access::EndReason reason, std::optional<access::TimePoint> due);
  void begin_draining();
  void finish(access::EndReason reason, std::optional<int> exit_status);
  void release();
  void log_refusal_counts() const;

  GatewayContext& context_;
  const EventLoops::Placement placement_;
  const std::uint64_t connection_id_;
  const std::string client_address_;
  // The address alone, without the port: what [[policy]] source and deny_source look at.
  const std::string client_ip_;
  Observed<Phase, PhaseChange> phase_;

  // Packets libssh took in on each side (ssh_set_counters), declared before the sessions that
  // write to them. A pass compares them to notice packets read outside ssh_event_dopoll.
  ssh_counter_struct client_counter_{};
  ssh_counter_struct upstream_counter_{};

  SshSession client_;
  SshEvent event_;
  boost::asio::posix::stream_descriptor client_watch_;
  bool client_read_armed_ = false;
  bool client_write_armed_ = false;
  ssh_channel client_channel_ = nullptr;  // owned by client_
  ssh_channel_callbacks_struct client_channel_callbacks_{};

  boost::asio::steady_timer login_timer_;
  boost::asio::steady_timer drain_timer_;
  boost::asio::steady_timer decision_timer_;
  boost::asio::steady_timer watch_timer_;
  boost::asio::steady_timer sso_timer_;  // the next look at the IdP's token endpoint
  SessionExpiry expiry_;

  ConnectionLimits::Slot startup_;  // held until authenticated
  AuthStep auth_step_ = AuthStep::offering_key;
  std::optional<Identity> identity_;
  std::deque<SshMessage> waiting_for_identity_;
  int auth_failures_ = 0;
  std::string user_;             // authenticated user name
  bool mfa_verified_ = false;    // a TOTP code was given on this connection
  std::string mfa_instruction_;  // shown with the next TOTP prompt (why the last one failed)
  SshMessage mfa_answer_;        // answered once the code is checked
  bool used_key_ = false;        // a public key was accepted on this connection
  bool used_sso_ = false;        // the person signed in at the OpenID provider
  std::string sso_login_name_;  // the login name an SSO sign-in is for
  std::optional<identity::DeviceAuthorization> sso_device_;
  std::chrono::steady_clock::time_point sso_deadline_;
  SshMessage sso_answer_;  // the client's answer to the shown code: answered once decided
  std::optional<ControlReply> control_reply_;
  std::optional<FollowUp> waiting_;                // the request a waiting session watches
  std::unique_ptr<oversight::Watcher> watcher_;    // the session this connection shows live
  std::string join_outbox_;                        // keys typed into a joined session, not yet sent
  bool join_send_running_ = false;                 // one send at a time, so keys arrive in order
  std::vector<access::Participant> participants_;  // watching or joined this session
  // A moderated session whose row exists, waiting for a moderator before the target is reached.
  struct AwaitingModerator {
    access::Admission admission;
    StartResult recorded;
  };
  std::optional<AwaitingModerator> awaiting_moderator_;
  bool moderated_ = false;  // [[policy]] require_moderator: input pauses without a moderator
  WaitStep wait_step_ = WaitStep::watching;
  std::string pending_notice_;  // waiting for window
  bool close_after_notice_ = false;

  ChannelSetup setup_;
  SshMessage start_request_;  // answered once the upstream channel has started

  std::optional<UpstreamConnection> upstream_;
  boost::asio::posix::stream_descriptor upstream_watch_;
  bool upstream_read_armed_ = false;
  bool upstream_write_armed_ = false;
  // The recording first; the bridge publishes to them and pauses while one is not ready.
  ByteObservers observers_;
  std::unique_ptr<Bridge> bridge_;
  std::deque<std::string> pending_signals_;
  std::uint64_t dropped_signals_ = 0;  // beyond kMaxPendingSignals, or not a signal name

  // What the client asked for that the bastion refused, by kind: audited once, then counted.
  std::unordered_map<std::string, std::uint64_t> refusals_;
  int env_requests_ = 0;
  std::string pty_clamped_from_;  // "COLSxROWS" the client asked for, when it was clamped

  std::int64_t record_id_ = 0;
  Observed<SessionRow, RowCount> row_;
  std::int64_t grant_id_ = 0;
  std::string target_;
  std::string login_;
};

// The live sessions of this node, so expiry, revocation and kills can reach them. Any thread:
// sessions live on several loops, and the gateway reaches each one on its own loop (post_to),
// never holding one itself, so a session always ends on its loop's thread.
class SessionRegistry {
 public:
  using Action = std::function<void(Session&)>;

  void add(const std::shared_ptr<Session>& session, boost::asio::io_context& loop);
  void remove(const Session& session);
  // The session has its row: post_to_record finds it from now on.
  void set_record(const Session& session, std::int64_t record_id);

  // Runs `action` on each session's (or that session's) own loop, if it is still alive then.
  void post_to_all(const Action& action) const;
  void post_to_record(std::int64_t record_id, Action action) const;
  std::vector<std::int64_t> record_ids() const;

  // Target sessions (starting or open) are counted against [server] max_sessions and
  // max_sessions_per_user: the check and the count are one step, so two loops cannot both take
  // the last place. The place is held until release_target_session.
  struct TargetSessions {
    int total = 0;    // this node's, before this one
    int of_user = 0;  // the user's, before this one
    bool held = false;
  };
  TargetSessions hold_target_session(const Session& session, const std::string& user, int max_total,
                                     int max_per_user);
  void release_target_session(std::uint64_t connection_id) noexcept;

 private:
  struct Entry {
    std::weak_ptr<Session> session;
    boost::asio::io_context* loop = nullptr;
    std::int64_t record_id = 0;
    std::string target_user;  // set while it holds a target session
  };
  static void post(const Entry& entry, Action action);

  mutable std::mutex mutex_;
  std::unordered_map<std::uint64_t, Entry> sessions_;        // by connection id
  std::unordered_map<std::int64_t, std::uint64_t> records_;  // record id -> connection id
  std::unordered_map<std::string, int> target_sessions_;     // by user
  int target_total_ = 0;
};

}  // namespace portcullis::proxy
