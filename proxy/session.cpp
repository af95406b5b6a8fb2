#include "proxy/session.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include "access/totp.h"
#include "proxy/peer_input.h"
#include "proxy/recording_observer.h"
#include "sshkey/sshkey.h"

namespace portcullis::proxy {
namespace {

// Like sshd's MaxAuthTries: a client offering many keys is cut off.
constexpr int kMaxAuthAttempts = 6;
constexpr std::size_t kMaxQueuedAuthMessages = 8;
// After the bastion closes a channel, the client gets this long to read the notice and
// hang up before the connection is dropped.
constexpr std::chrono::seconds kDrainGrace{2};

std::atomic<std::uint64_t> next_connection_id{1};

// A client gets at most this many signals forwarded per pass of the loop; a flood beyond it is
// dropped (and counted) rather than queued without bound.
constexpr std::size_t kMaxPendingSignals = 16;

bool is_allowed_env(const std::string& name) {
  return name == "LANG" || name == "TERM" || name.rfind("LC_", 0) == 0;
}

bool is_gone(ssh_session session) {
  return ssh_is_connected(session) == 0 ||
         (ssh_get_status(session) & (SSH_CLOSED | SSH_CLOSED_ERROR)) != 0 ||
         ssh_get_error_code(session) == SSH_FATAL;
}

// Audit rows go through the journal: never a blocking call on the loop, and never lost to a
// database outage.
void audit_later(Journal& journal, const std::string& actor, const std::string& action,
                 const std::string& object, const nlohmann::json& details) {
  journal.submit(access::journal_audit(
      actor, action, object,
      details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
}

// Terminals in raw mode need "\r\n" to start a new line.
std::string for_terminal(std::string_view text) {
  std::string converted;
  converted.reserve(text.size() + text.size() / 16);
  for (char c : text) {
    if (c == '\n') converted += '\r';
    converted += c;
  }
  return converted;
}

struct Endpoint {
  std::string host;
  std::uint16_t port = 22;
};

// How engineers reach this bastion, for the lines `config` prints: [server] public_address when
// set, else the address this client connected to (right for everyone on the same network).
Endpoint public_endpoint(const ServerConfig& server, int client_fd) {
  if (!server.public_address.empty()) {
    return {server.public_address, server.public_port.value_or(server.listen_port)};
  }
  sockaddr_storage local{};
  socklen_t size = sizeof local;
  char host[INET6_ADDRSTRLEN] = "";
  if (::getsockname(client_fd, reinterpret_cast<sockaddr*>(&local), &size) == 0) {
    if (local.ss_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(&local);
      ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
      return {host, ntohs(in->sin_port)};
    }
    if (local.ss_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&local);
      ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
      return {host, ntohs(in6->sin6_port)};
    }
  }
  return {server.listen_host, server.listen_port};
}

}  // namespace

Session::Session(GatewayContext& context, int client_fd, std::string client_address,
                 ConnectionLimits::Slot startup)
    : context_(context),
      connection_id_(next_connection_id++),
      client_address_(std::move(client_address)),
      client_(ssh_new()),
      client_watch_(context.loop),
      login_timer_(context.loop),
      expiry_timer_(context.loop),
      drain_timer_(context.loop),
      warning_timer_(context.loop),
      decision_timer_(context.loop),
      startup_(std::move(startup)),
      upstream_watch_(context.loop) {
  const Endpoint reached = public_endpoint(context.config.server, client_fd);
  public_host_ = reached.host;
  public_port_ = reached.port;
  // libssh owns client_fd from here; the loop watches a duplicate of it.
  client_watch_.assign(::dup(client_fd));
  if (!client_ || ssh_bind_accept_fd(context.bind, client_.get(), client_fd) != SSH_OK) {
    throw std::runtime_error(client_ ? ssh_get_error(context.bind) : "out of memory");
  }
}

Session::~Session() = default;

void Session::start(std::chrono::milliseconds delay) {
  ssh_set_blocking(client_.get(), 0);
  ssh_set_counters(client_.get(), nullptr, &client_counter_);
  context_.registry.add(shared_from_this());
  // Called from within ConnectionLimits::admit for another connection: close on a later turn.
  startup_.on_eviction([&loop = context_.loop, weak = weak_from_this()] {
    boost::asio::post(loop, [weak] {
      if (auto self = weak.lock()) self->guarded("eviction", [&] { self->evicted(); });
    });
  });
  if (delay.count() == 0) {
    arm_login_timer();
    return pump();
  }
  // The address is backing off after failed logins: the handshake waits, holding its place
  // among the connections not yet authenticated (so an address cannot queue many).
  spdlog::info("conn={} client={} backing off {} ms after failed logins from this address",
               connection_id_, client_address_, delay.count());
  login_timer_.expires_after(delay);
  login_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->phase_ != Phase::key_exchange) return;
    self->arm_login_timer();
    self->pump();
  });
}

// The time a connection has to authenticate and start a session or a control command, and
// then to take the command's reply (a client that never opens its window must not hold the
// connection forever). A running session, a command at work and a `connect` or `wait` that
// waits for a decision are not bounded by it.
void Session::arm_login_timer() {
  login_timer_.expires_after(context_.config.server.login_grace);
  login_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec) return;
    const bool unfinished =
        self->phase_ <= Phase::ready || (self->phase_ == Phase::control && self->control_reply_);
    if (!unfinished) return;
    self->guarded("login timer", [&] {
      spdlog::info("conn={} client={} login grace time exceeded; disconnecting",
                   self->connection_id_, self->client_address_);
      self->release();
    });
  });
}

void Session::evicted() {
  if (phase_ > Phase::authenticating) return;
  spdlog::info(
      "conn={} client={} gave its place to a new connection: every unauthenticated "
      "place is taken and this one stalled in its handshake; disconnecting",
      connection_id_, client_address_);
  release();
}

// ---------------------------------------------------------------- fault barrier

void Session::fail(const char* where, const std::string& why) noexcept {
  try {
    const std::string shown = peer::printable(why, 500);
    spdlog::error("conn={} session={} user={} client={} {} failed: {}; ending this connection",
                  connection_id_, record_id_, user_, client_address_, where, shown);
    if (phase_ != Phase::closed) {
      audit_later(
          context_.journal, "portcullisd:" + context_.config.server.node_name, "session.error",
          record_id_ != 0 ? "session:" + std::to_string(record_id_)
                          : "conn:" + std::to_string(connection_id_),
          {{"where", where}, {"error", shown}, {"user", user_}, {"client", client_address_}});
      record_marker("error " + shown);
      write_notice(
          "portcullis: the bastion hit an internal error and closed this connection (conn=" +
          std::to_string(connection_id_) + " in its log)");
      finish(access::EndReason::error, std::nullopt);
    }
  } catch (...) {
    // Logging or auditing failed too (out of memory?): still close the connection below.
  }
  try {
    release();
  } catch (...) {
    phase_ = Phase::closed;
  }
}

// ---------------------------------------------------------------- event loop plumbing

void Session::pump() {
  guarded("event loop", [this] { pump_unguarded(); });
}

void Session::pump_unguarded() {
  if (phase_ == Phase::closed) return;
  if (phase_ == Phase::key_exchange) {
    int rc = ssh_handle_key_exchange(client_.get());
    if (rc == SSH_AGAIN) {
      // Its identification line is in: no longer among the first to lose a place to a newcomer.
      if (ssh_get_clientbanner(client_.get()) != nullptr) startup_.identified();
      return watch();
    }
    if (rc != SSH_OK) {
      spdlog::info("conn={} client={} key exchange failed: {}", connection_id_, client_address_,
                   ssh_get_error(client_.get()));
      return release();
    }
    startup_.key_exchanged();
    phase_ = Phase::authenticating;
    ssh_set_auth_methods(client_.get(), SSH_AUTH_METHOD_PUBLICKEY);
    event_.reset(ssh_event_new());
    ssh_event_add_session(event_.get(), client_.get());
  }
  ssh_event_dopoll(event_.get(), 0);
  process_messages();
  // From here on, libssh may still read either socket as a side effect (ssh_channel_read_*
  // polls every session of the event when a channel buffer is empty): a target's EOF,
  // exit-status and close, a window adjust or a client message can land in libssh's buffers
  // after this pass has looked at them. The kernel then has nothing left to announce, so
  // nothing would wake the session again (the exec of a short command hung that way).
  const std::uint64_t packets_seen = packets_received();
  if (phase_ == Phase::bridging) check_bridge();
  if (phase_ == Phase::waiting) read_while_waiting();
  if (phase_ == Phase::control && control_reply_) flush_control_reply();
  if (close_after_notice_) close_client_channel();
  if (phase_ == Phase::closed) return;
  // While draining, the notice and the channel close still sit in libssh's output buffer;
  // the client hangs up once it has read them (or the drain timer gives up on it).
  if (is_gone(client_.get())) return release();
  if (packets_received() != packets_seen || work_pending()) {
    boost::asio::post(context_.loop, [self = shared_from_this()] { self->pump(); });
  }
  watch();
}

bool Session::work_pending() {
  if (bridge_ && phase_ == Phase::bridging && bridge_->more_pending()) return true;
  // The loop's readiness is edge-triggered and libssh reads a socket in small slices, so
  // bytes can be left in a socket with no new edge to announce them: ask the kernel.
  pollfd fds[2];
  nfds_t count = 0;
  for (auto* descriptor : {&client_watch_, &upstream_watch_}) {
    if (descriptor->is_open()) fds[count++] = pollfd{descriptor->native_handle(), POLLIN, 0};
  }
  return ::poll(fds, count, 0) > 0;
}

std::uint64_t Session::packets_received() const {
  return client_counter_.in_packets + upstream_counter_.in_packets;
}

void Session::watch() {
  watch_descriptor(client_watch_, client_.get(), client_read_armed_, client_write_armed_);
  if (upstream_ && upstream_->session && phase_ == Phase::bridging) {
    watch_descriptor(upstream_watch_, upstream_->session.get(), upstream_read_armed_,
                     upstream_write_armed_);
  }
}

void Session::watch_descriptor(boost::asio::posix::stream_descriptor& descriptor,
                               ssh_session session, bool& read_armed, bool& write_armed) {
  using Wait = boost::asio::posix::stream_descriptor::wait_type;
  if (!descriptor.is_open()) return;
  auto on_ready = [self = shared_from_this()](bool& armed) {
    return [self, &armed](boost::system::error_code ec) {
      armed = false;
      if (!ec) self->pump();
    };
  };
  if (!read_armed) {
    read_armed = true;
    descriptor.async_wait(Wait::wait_read, on_ready(read_armed));
  }
  if (!write_armed && (ssh_get_poll_flags(session) & SSH_WRITE_PENDING) != 0) {
    write_armed = true;
    descriptor.async_wait(Wait::wait_write, on_ready(write_armed));
  }
}

// ---------------------------------------------------------------- authentication

void Session::process_messages() {
  while (phase_ != Phase::closed) {
    ssh_message raw = ssh_message_get(client_.get());
    if (raw == nullptr) break;
    handle_message(SshMessage(raw));
  }
}

void Session::handle_message(SshMessage message) {
  switch (ssh_message_type(message.get())) {
    case SSH_REQUEST_AUTH:
      return handle_auth(std::move(message));
    case SSH_REQUEST_CHANNEL_OPEN:
      return handle_channel_open(std::move(message));
    case SSH_REQUEST_CHANNEL:
      return handle_channel_request(std::move(message));
    case SSH_REQUEST_SERVICE: {
      const std::string service = peer::service_name(message.get());
      if (service == "ssh-userauth" || service == "ssh-connection") {
        ssh_message_service_reply_success(message.get());
      } else {
        ssh_message_reply_default(message.get());
      }
      return;
    }
    case SSH_REQUEST_GLOBAL:
      if (ssh_message_subtype(message.get()) == SSH_GLOBAL_REQUEST_TCPIP_FORWARD) {
        note_refusal(
            "forwarding.refused", "remote forwarding",
            {{"direction", "remote"},
             {"address", peer::printable(ssh_message_global_request_address(message.get()))},
             {"port", ssh_message_global_request_port(message.get())}});
      }
      ssh_message_reply_default(message.get());
      return;
    default:
      ssh_message_reply_default(message.get());
  }
}

void Session::handle_auth(SshMessage message) {
  if (phase_ != Phase::authenticating) {
    ssh_message_reply_default(message.get());
    return;
  }
  if (awaiting_mfa_) return handle_keyboard_interactive(std::move(message));
  if (ssh_message_subtype(message.get()) != SSH_AUTH_METHOD_PUBLICKEY) {
    ssh_message_auth_set_methods(message.get(), SSH_AUTH_METHOD_PUBLICKEY);
    ssh_message_reply_default(message.get());
    return;
  }
  peer::Checked<std::string> checked_name = peer::login_name(message.get());
  if (!checked_name.ok()) {
    note_auth_failure(peer::printable(ssh_message_auth_user(message.get())), checked_name.refusal);
    if (phase_ == Phase::authenticating) ssh_message_reply_default(message.get());
    return;
  }
  const std::string& name = *checked_name.value;
  if (identity_ && identity_->login_name == name) return answer_public_key(std::move(message));
  if (waiting_for_identity_.size() >= kMaxQueuedAuthMessages) {
    ssh_message_reply_default(message.get());
    return;
  }
  waiting_for_identity_.push_back(std::move(message));
  if (!identity_pending_) look_up_identity(name);
}

void Session::look_up_identity(const std::string& login_name) {
  identity_pending_ = true;
  std::optional<LoginName> parsed = parse_login_name(login_name);
  context_.workers.transact(
      [login_name, parsed, &policy = context_.policy, &clock = context_.clock](pqxx::work& tx) {
        Identity identity{login_name, parsed, std::nullopt, std::monostate{}, false, false};
        if (!parsed) return identity;
        identity.user = access::find_user(tx, parsed->user);
        if (!identity.user) return identity;
        const bool enrolled = access::totp_enrolled(tx, parsed->user);
        if (parsed->target.empty()) {
          identity.mfa_required = enrolled && policy.control_login_needs_mfa(identity.user->roles);
          return identity;
        }
        std::visit(
            [&](auto&& verdict) { identity.admission = std::move(verdict); },
            access::admit_connection(tx, policy, *identity.user, parsed->target, parsed->login,
                                     enrolled, identity.mfa_required, clock.now()));
        return identity;
      },
      [self = shared_from_this(), login_name](Outcome<Identity> outcome) {
        self->guarded("identity lookup",
                      [&] { self->on_identity(login_name, std::move(outcome)); });
        self->pump();
      });
}

void Session::on_identity(const std::string& login_name, Outcome<Identity> outcome) {
  identity_pending_ = false;
  if (phase_ != Phase::authenticating) return;
  if (outcome.ok()) {
    identity_ = std::move(*outcome.value);
  } else {
    if (!outcome.database_unavailable) {
      spdlog::error("conn={} cannot look up {}: {}", connection_id_, login_name, outcome.error);
    }
    identity_ = Identity{
        login_name, parse_login_name(login_name), std::nullopt, std::monostate{}, true, false};
  }
  while (!waiting_for_identity_.empty() && phase_ == Phase::authenticating) {
    SshMessage next = std::move(waiting_for_identity_.front());
    waiting_for_identity_.pop_front();
    // Queued messages passed peer::login_name already.
    const std::string next_name = *peer::login_name(next.get()).value;
    if (next_name == login_name) {
      answer_public_key(std::move(next));
    } else {
      waiting_for_identity_.push_front(std::move(next));
      return look_up_identity(next_name);
    }
  }
}

void Session::answer_public_key(SshMessage message) {
  peer::AuthPublicKey offered = peer::auth_public_key(message.get());
  const Identity& identity = *identity_;
  // The database being down leaves no way to check the key. Authentication then
  // "succeeds" only so the client can be told why it is refused: admission fails
  // closed for such a session and it never reaches a target.
  bool accepted = identity.database_unavailable ||
                  (identity.user && !identity.user->disabled && offered.key != nullptr &&
                   sshkey::is_listed(offered.key, identity.user->public_keys));
  if (!accepted || offered.state == SSH_PUBLICKEY_STATE_WRONG) {
    note_auth_failure(identity.login_name, accepted ? "bad signature" : "key not accepted");
    ssh_message_reply_default(message.get());
    return;
  }
  if (offered.state == SSH_PUBLICKEY_STATE_NONE) {
    ssh_message_auth_reply_pk_ok_simple(message.get());
    return;
  }
  user_ = identity.parsed ? identity.parsed->user : identity.login_name;
  waiting_for_identity_.clear();
  spdlog::info("conn={} accepted publickey for {} from {}{}", connection_id_, identity.login_name,
               client_address_,
               identity.database_unavailable ? " (database unreachable: will refuse)"
               : identity.mfa_required       ? "; TOTP code required"
                                             : "");
  if (identity.mfa_required && !identity.database_unavailable) {
    // A partial success: the client goes on with keyboard-interactive for the code.
    awaiting_mfa_ = true;
    ssh_set_auth_methods(client_.get(), SSH_AUTH_METHOD_INTERACTIVE);
    ssh_message_auth_reply_success(message.get(), 1);
    return;
  }
  complete_authentication(std::move(message));
}

void Session::complete_authentication(SshMessage message) {
  ssh_message_auth_reply_success(message.get(), 0);
  phase_ = Phase::ready;
  startup_.release();
  context_.limits.login_succeeded(startup_.source());
}

void Session::handle_keyboard_interactive(SshMessage message) {
  ssh_message m = message.get();
  if (ssh_message_subtype(m) != SSH_AUTH_METHOD_INTERACTIVE || mfa_checking_) {
    ssh_message_auth_set_methods(m, SSH_AUTH_METHOD_INTERACTIVE);
    ssh_message_reply_default(m);
    return;
  }
  if (ssh_message_auth_kbdint_is_response(m) == 0) {
    const char* prompts[] = {"TOTP code: "};
    char echo[] = {0};
    const std::string instruction = mfa_instruction_.empty()
                                        ? "Enter the 6-digit code from your authenticator app."
                                        : mfa_instruction_;
    ssh_message_auth_interactive_request(m, "Portcullis MFA", instruction.c_str(), 1, prompts,
                                         echo);
    return;
  }
  const char* answer = ssh_userauth_kbdint_getnanswers(client_.get()) == 1
                           ? ssh_userauth_kbdint_getanswer(client_.get(), 0)
                           : nullptr;
  check_totp(std::move(message), answer == nullptr ? "" : answer);
}

void Session::check_totp(SshMessage answer, std::string code) {
  mfa_checking_ = true;
  mfa_answer_ = std::move(answer);
  context_.workers.transact(
      [user = user_, code = std::move(code), &vault = context_.vault, &clock = context_.clock,
       node = context_.config.server.node_name, client = client_address_](pqxx::work& tx) {
        MfaCheck check;
        std::optional<access::TotpState> state = access::lock_totp_state(tx, user);
        if (!state) {
          check.verdict = MfaVerdict::not_enrolled;
          return check;
        }
        if (state->locked_until) {
          // Refused without counting: guessing during a lockout cannot prolong it.
          check.verdict = MfaVerdict::locked;
          check.locked_until = state->locked_until;
          access::record_totp_locked_attempt(tx, user, *state, node, client);
          return check;
        }
        const vault::Secret secret = vault.unseal(state->sealed_secret, access::totp_context(user));
        const std::span<const std::uint8_t> key(
            reinterpret_cast<const std::uint8_t*>(secret.reveal().data()), secret.reveal().size());
        const access::TimePoint now = clock.now();
        if (auto step = access::totp::accept(key, code, now, state->last_step)) {
          access::record_totp_success(tx, user, *state, *step, client);
          check.verdict = MfaVerdict::accepted;
          return check;
        }
        const bool replayed = access::totp::accept(key, code, now, std::nullopt).has_value();
        check.verdict = replayed ? MfaVerdict::replayed : MfaVerdict::wrong;
        check.failures = access::record_totp_failure(
            tx, user, *state, replayed ? "replayed code" : "wrong code", node, client);
        return check;
      },
      [self = shared_from_this()](Outcome<MfaCheck> outcome) {
        self->guarded("TOTP check",
                      [&] { self->on_totp(std::move(self->mfa_answer_), std::move(outcome)); });
        self->pump();
      });
}

void Session::on_totp(SshMessage answer, Outcome<MfaCheck> outcome) {
  mfa_checking_ = false;
  if (phase_ != Phase::authenticating || !answer) return;
  const MfaVerdict verdict = outcome.ok() ? outcome.value->verdict : MfaVerdict::wrong;
  if (verdict == MfaVerdict::accepted) {
    spdlog::info("conn={} user={} TOTP code accepted", connection_id_, user_);
    awaiting_mfa_ = false;
    mfa_verified_ = true;
    return complete_authentication(std::move(answer));
  }
  switch (verdict) {
    case MfaVerdict::replayed:
      mfa_instruction_ = "That code was already used: wait for the next one.";
      break;
    case MfaVerdict::locked:
      mfa_instruction_ =
          "Too many wrong codes: MFA is locked" +
          (outcome.value->locked_until ? " until " + format_rfc3339(*outcome.value->locked_until)
                                       : std::string(" for a few minutes")) +
          "; an administrator can clear it (portcullis user mfa-reset).";
      break;
    default:
      mfa_instruction_ = outcome.ok() ? "Wrong code, try again."
                                      : "The code could not be checked; try again shortly.";
  }
  if (!outcome.ok())
    spdlog::warn("conn={} cannot check a TOTP code: {}", connection_id_, outcome.error);
  if (outcome.ok() && outcome.value->failures == access::kMfaMaxFailures) {
    context_.raise_alert(access::AlertEvent{
        "mfa_lockout", nlohmann::json{{"user", user_},
                                      {"client", client_address_},
                                      {"failures", outcome.value->failures},
                                      {"window", format_duration(access::kMfaWindow)}}
                           .dump()});
  }
  ssh_message_auth_set_methods(answer.get(), SSH_AUTH_METHOD_INTERACTIVE);
  ssh_message_reply_default(answer.get());
  note_auth_failure(identity_->login_name, "TOTP: " + mfa_instruction_);
}

void Session::note_auth_failure(const std::string& login_name, const std::string& why) {
  ++auth_failures_;
  spdlog::info("conn={} authentication refused for {} from {}: {}", connection_id_, login_name,
               client_address_, why);
  if (auth_failures_ < kMaxAuthAttempts) return;
  audit_later(context_.journal, "anonymous", "auth.failure", "login:" + login_name,
              {{"client", client_address_}, {"attempts", auth_failures_}, {"reason", why}});
  spdlog::warn("conn={} too many authentication failures for {} from {}; disconnecting",
               connection_id_, login_name, client_address_);
  release();
}

// ---------------------------------------------------------------- channel setup

void Session::handle_channel_open(SshMessage message) {
  const int kind = ssh_message_subtype(message.get());
  if (phase_ != Phase::ready || client_channel_ != nullptr || kind != SSH_CHANNEL_SESSION) {
    if (kind == SSH_CHANNEL_DIRECT_TCPIP || kind == SSH_CHANNEL_FORWARDED_TCPIP) {
      const peer::ForwardingTarget destination = peer::forwarding_target(message.get());
      note_refusal("forwarding.refused", "port forwarding",
                   {{"channel", peer::channel_type(message.get())},
                    {"destination", destination.host},
                    {"port", destination.port}});
    } else if (phase_ == Phase::ready || phase_ >= Phase::starting) {
      note_refusal("channel.refused", "a " + peer::channel_type(message.get()) + " channel",
                   {{"channel", peer::channel_type(message.get())}});
    }
    ssh_message_reply_default(message.get());
    return;
  }
  client_channel_ = ssh_message_channel_request_open_reply_accept(message.get());
  if (client_channel_ == nullptr) return release();
  ssh_callbacks_init(&client_channel_callbacks_);
  client_channel_callbacks_.userdata = this;
  client_channel_callbacks_.channel_signal_function = &Session::on_client_signal;
  ssh_set_channel_callbacks(client_channel_, &client_channel_callbacks_);
}

void Session::handle_channel_request(SshMessage message) {
  ssh_message m = message.get();
  switch (ssh_message_subtype(m)) {
    case SSH_CHANNEL_REQUEST_PTY:
      if (phase_ == Phase::ready && accept_pty(m)) {
        ssh_message_channel_request_reply_success(m);
        return;
      }
      break;
    case SSH_CHANNEL_REQUEST_ENV:
      if (phase_ == Phase::ready && accept_env(m)) {
        ssh_message_channel_request_reply_success(m);
        return;
      }
      break;
    case SSH_CHANNEL_REQUEST_WINDOW_CHANGE:
      return resize(peer::terminal_size(m));
    case SSH_CHANNEL_REQUEST_SHELL:
      return handle_start(std::move(message), StartKind::shell, "");
    case SSH_CHANNEL_REQUEST_EXEC: {
      peer::Checked<std::string> command = peer::exec_command(m);
      if (!command.ok()) return refuse_request(std::move(message), command.refusal);
      return handle_start(std::move(message), StartKind::exec, std::move(*command.value));
    }
    case SSH_CHANNEL_REQUEST_SUBSYSTEM: {
      peer::Checked<std::string> name = peer::subsystem_name(m);
      if (!name.ok()) return refuse_request(std::move(message), name.refusal);
      return handle_start(std::move(message), StartKind::subsystem, std::move(*name.value));
    }
    default:
      break;
  }
  ssh_message_reply_default(m);
}

bool Session::accept_pty(ssh_message message) {
  peer::Checked<std::string> term = peer::terminal_type(message);
  if (!term.ok()) {
    note_refusal("request.refused", "a pty request",
                 {{"request", "pty-req"}, {"why", term.refusal}});
    return false;
  }
  const peer::TerminalSize size = peer::terminal_size(message);
  setup_.pty = PtyRequest{*term.value, size.cols, size.rows, size.px_width, size.px_height};
  if (size.clamped) pty_clamped_from_ = size.requested;
  return true;
}

bool Session::accept_env(ssh_message message) {
  if (++env_requests_ > peer::kMaxEnvRequests) {
    note_refusal("request.refused", "an env request",
                 {{"request", "env"},
                  {"why", "more than " + std::to_string(peer::kMaxEnvRequests) + " env requests"}});
    return false;
  }
  peer::Checked<peer::EnvVariable> variable = peer::env_variable(message);
  if (!variable.ok()) {
    note_refusal("request.refused", "an env request",
                 {{"request", "env"}, {"why", variable.refusal}});
    return false;
  }
  // Like sshd's AcceptEnv: others are refused without a word, as clients send them routinely.
  if (!is_allowed_env(variable.value->name)) return false;
  setup_.env.emplace_back(std::move(variable.value->name), std::move(variable.value->value));
  return true;
}

void Session::resize(const peer::TerminalSize& size) {
  if (phase_ == Phase::bridging && setup_.pty) {
    if (size.cols == setup_.pty->cols && size.rows == setup_.pty->rows) return;
    setup_.pty->cols = size.cols;
    setup_.pty->rows = size.rows;
    ssh_channel_change_pty_size(upstream_->channel, size.cols, size.rows);
    if (size.clamped) record_marker("clamped window-change " + size.requested);
    observers_.resize(size.cols, size.rows);
  } else if (setup_.pty && (phase_ < Phase::bridging || phase_ == Phase::waiting)) {
    setup_.pty->cols = size.cols;
    setup_.pty->rows = size.rows;
    pty_clamped_from_ = size.clamped ? size.requested : "";
  }
}

// Refusals of what a client may not do (forwarding, agent, x11, oversized requests) are
// logged and audited once per connection and kind; repeats are only counted, so a client
// sending ten thousand of them writes one audit row, not ten thousand.
void Session::note_refusal(const std::string& action, const std::string& what,
                           nlohmann::json details) {
  auto& count = refusals_[action + " " + what];
  if (++count > 1) return;
  spdlog::warn("conn={} user={} client={} refused {}: {}", connection_id_, user_, client_address_,
               what, details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  details["client"] = client_address_;
  audit_later(context_.journal, user_.empty() ? "anonymous" : user_, action,
              "conn:" + std::to_string(connection_id_), details);
}

// A start request (exec, subsystem) the bastion will not pass on: the client is told why on
// stderr and gets exit status 255.
void Session::refuse_request(SshMessage message, const std::string& why) {
  if (phase_ != Phase::ready) {
    ssh_message_reply_default(message.get());
    return;
  }
  note_refusal("request.refused", "a start request", {{"why", why}});
  ssh_message_channel_request_reply_success(message.get());
  end_with_notice("portcullis: request refused: " + why);
}

std::optional<std::string> Session::denial_reason() const {
  const Identity& identity = *identity_;
  if (identity.database_unavailable) {
    return "the access database is unreachable, so no grant can be checked; try again shortly "
           "or contact the bastion administrator";
  }
  if (!identity.parsed || !identity.user) return "unknown user " + identity.login_name;
  if (const auto* denial = std::get_if<access::Denial>(&identity.admission)) return denial->reason;
  const auto& grant = std::get<access::Admission>(identity.admission).grant;
  if (grant.expires_at <= context_.clock.now()) {
    return "grant " + std::to_string(grant.id) + " expired at " + format_rfc3339(grant.expires_at) +
           "; ask for a new grant";
  }
  return std::nullopt;
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
    return refuse("sftp and scp need a target: log in as " + user_ + "+TARGET");
  }
  if (auto reason = denial_reason()) {
    ssh_message_channel_request_reply_success(message.get());
    return refuse(*reason);
  }
  if (auto limit = session_limit_refusal()) {
    ssh_message_channel_request_reply_success(message.get());
    return refuse(*limit);
  }
  start_request_ = std::move(message);
  phase_ = Phase::starting;
  start_upstream(std::get<access::Admission>(identity_->admission));
}

// max_sessions_per_user and max_sessions: counted over the target sessions of this node
// (starting or open) when another one is about to start.
std::optional<std::string> Session::session_limit_refusal() {
  int total = 0;
  int mine = 0;
  for (const auto& session : context_.registry.all()) {
    if (session.get() == this || !session->holds_target_session()) continue;
    ++total;
    if (session->user() == user_) ++mine;
  }
  const ServerConfig& server = context_.config.server;
  if (mine >= server.max_sessions_per_user) {
    context_.limits.hit("max_sessions_per_user", user_);
    return user_ + " already has " + std::to_string(mine) +
           " sessions open, the most [server] max_sessions_per_user allows; end one and connect "
           "again";
  }
  if (total >= server.max_sessions) {
    context_.limits.hit("max_sessions", "node");
    return "the bastion already holds " + std::to_string(total) +
           " sessions, the most [server] max_sessions allows; try again later";
  }
  return std::nullopt;
}

// The session row on the login workers (which hold database connections), then the target:
// dialled on the loop, and logged in to on the upstream pool once it has answered
// (upstream_dial.h), so a target that accepts TCP and never answers holds neither a login
// worker nor an upstream thread, only its socket, for at most upstream_timeout.
void Session::start_upstream(const access::Admission& admission) {
  const std::string node = context_.config.server.node_name;
  // The session row exists before the target is reached: no unrecorded access. This write is
  // not journaled: with the database down the session does not start at all.
  context_.workers.transact(
      [admission, node, client = client_address_, boot = context_.journal.boot()](pqxx::work& tx) {
        StartResult result;
        result.approvals = access::list_approvals(tx, admission.grant.id);
        result.record_id = access::start_session(tx, admission.grant.id, node, client, boot);
        return result;
      },
      [self = shared_from_this(), admission](Outcome<StartResult> recorded) {
        self->guarded("session record", [&] {
          if (!recorded.ok()) {
            StartResult result;
            result.failure = recorded.database_unavailable
                                 ? "the access database is unreachable, so the session cannot "
                                   "be recorded; try again shortly"
                                 : "the session cannot be recorded: " + recorded.error;
            return self->on_upstream(std::move(result));
          }
          if (self->phase_ != Phase::starting) {
            // The client left before the target was reached: the row is closed at once.
            self->context_.journal.submit(access::journal_session_end(
                recorded.value->record_id, access::EndReason::client_exit, std::nullopt,
                self->context_.clock.now()));
            return;
          }
          self->reach_target(admission, std::move(*recorded.value));
        });
        self->pump();
      });
}

void Session::reach_target(const access::Admission& admission, StartResult recorded) {
  const auto deadline = std::chrono::steady_clock::now() + context_.config.server.upstream_timeout;
  dial_target(context_.loop, context_.upstreams, admission.target, deadline,
              [self = shared_from_this(), admission, deadline,
               recorded = std::make_shared<StartResult>(std::move(recorded))](Dialled dialled) {
                self->guarded("upstream dial", [&] {
                  self->log_in_upstream(admission, std::move(*recorded), std::move(dialled),
                                        deadline);
                });
                self->pump();
              });
}

void Session::log_in_upstream(const access::Admission& admission, StartResult recorded,
                              Dialled dialled, std::chrono::steady_clock::time_point deadline) {
  Journal& journal = context_.journal;
  if (!dialled.socket) {
    journal.submit(access::journal_session_end(recorded.record_id, access::EndReason::error,
                                               std::nullopt, context_.clock.now()));
    recorded.upstream.failure.message = dialled.failure;
    return on_upstream(std::move(recorded));
  }
  if (phase_ != Phase::starting) {
    // The client left while the target was being dialled.
    return journal.submit(access::journal_session_end(
        recorded.record_id, access::EndReason::client_exit, std::nullopt, context_.clock.now()));
  }
  const vault::Vault& vault = context_.vault;
  const DatabaseClock& clock = context_.clock;
  const std::string actor = "portcullisd:" + context_.config.server.node_name;
  // libssh's timeout bounds each wait for the target: what is left of upstream_timeout.
  const auto left =
      std::chrono::ceil<std::chrono::seconds>(deadline - std::chrono::steady_clock::now());
  const std::chrono::seconds timeout = std::max(left, std::chrono::seconds(1));
  context_.upstreams.blocking(
      [&journal, &vault, &clock, admission, setup = setup_, actor, timeout,
       socket = std::move(dialled.socket), result = std::move(recorded)]() mutable {
        result.upstream = login_upstream(std::move(socket), admission.target, admission.account,
                                         vault, setup, timeout);
        if (!result.upstream.connection) {
          const UpstreamFailure& failure = result.upstream.failure;
          journal.submit(access::journal_session_end(result.record_id, access::EndReason::error,
                                                     std::nullopt, clock.now()));
          if (failure.host_key_mismatch) {
            audit_later(journal, actor, "target.host_key_mismatch",
                        "target:" + admission.target.name,
                        {{"session", result.record_id}, {"detail", failure.message}});
          }
        }
        return std::move(result);
      },
      [self = shared_from_this()](Outcome<StartResult> result) {
        self->guarded("upstream start", [&] {
          if (!result.ok())
            throw std::runtime_error("starting the upstream failed: " + result.error);
          self->on_upstream(std::move(*result.value));
        });
        self->pump();
      });
}

void Session::on_upstream(StartResult result) {
  record_id_ = result.record_id;
  if (phase_ != Phase::starting) {
    // The client left while the target was being reached (a failed attempt's row was
    // already closed by the worker).
    if (result.upstream.connection) {
      disconnect_upstream(*result.upstream.connection);
      finish(access::EndReason::client_exit, std::nullopt);
    }
    return;
  }
  // A shell opened by `connect` answered its exec request long ago.
  if (start_request_) ssh_message_channel_request_reply_success(start_request_.get());
  start_request_.reset();
  if (!result.failure.empty()) return refuse(result.failure);
  if (!result.upstream.connection) {
    const UpstreamFailure& failure = result.upstream.failure;
    spdlog::warn("conn={} session={} user={} upstream failed: {}", connection_id_, record_id_,
                 user_, failure.message);
    if (failure.host_key_mismatch) {
      const auto& target = std::get<access::Admission>(identity_->admission).target;
      context_.raise_alert(
          access::AlertEvent{"host_key_mismatch", nlohmann::json{{"target", target.name},
                                                                 {"host", target.host},
                                                                 {"port", target.port},
                                                                 {"user", user_},
                                                                 {"session", record_id_},
                                                                 {"detail", failure.message}}
                                                      .dump()});
    }
    write_notice("portcullis: " + failure.message);
    ssh_channel_request_send_exit_status(client_channel_, 255);
    close_client_channel();
    finished_ = true;  // the worker already closed the session row
    return begin_draining();
  }
  begin_bridging(std::move(*result.upstream.connection),
                 std::get<access::Admission>(identity_->admission), result.approvals);
}

void Session::begin_bridging(UpstreamConnection connection, const access::Admission& admission,
                             const std::vector<access::Approval>& approvals) {
  upstream_ = std::move(connection);
  ssh_set_counters(upstream_->session.get(), nullptr, &upstream_counter_);
  upstream_watch_.assign(::dup(ssh_get_fd(upstream_->session.get())));
  ssh_event_add_session(event_.get(), upstream_->session.get());
  grant_id_ = admission.grant.id;
  target_ = admission.target.name;
  login_ = admission.account.login;
  start_recording(admission, approvals);
  bridge_ = std::make_unique<Bridge>(client_channel_, upstream_->channel, observers_);
  phase_ = Phase::bridging;
  login_timer_.cancel();
  hours_end_ = admission.hours_end;
  hours_ = admission.hours;
  set_expiry(admission.grant.expires_at);
  spdlog::info("session={} conn={} user={} target={} login={} grant={} client={} started",
               record_id_, connection_id_, user_, target_, login_, grant_id_, client_address_);
  if (setup_.pty) {
    write_notice("portcullis: grant " + std::to_string(grant_id_) + " (" + admission.grant.reason +
                 ") for " + login_ + "@" + target_ + " ends at " +
                 format_rfc3339(admission.grant.expires_at));
  }
}

void Session::run_control(const std::string& command_line) {
  phase_ = Phase::control;
  login_timer_.cancel();
  spdlog::info("conn={} user={} client={} control command: {}", connection_id_, user_,
               client_address_, peer::printable(command_line, 200));
  const ControlEnvironment env{context_.workers, context_.clock, context_.policy,
                               context_.config,  public_host_,   public_port_};
  access::Actor actor{*identity_->user, mfa_verified_};
  context_.workers.blocking(
      [env, actor = std::move(actor), command_line] {
        return run_control_command(env, actor, command_line);
      },
      [self = shared_from_this()](Outcome<ControlReply> outcome) {
        self->guarded("control command", [&] {
          if (!outcome.ok())
            throw std::runtime_error("the control command failed: " + outcome.error);
          ControlReply& reply = *outcome.value;
          for (const access::AlertEvent& alert : reply.alerts) self->context_.raise_alert(alert);
          if (self->setup_.pty) {
            reply.out = for_terminal(reply.out);
            reply.err = for_terminal(reply.err);
          }
          self->control_reply_ = std::move(reply);
          self->arm_login_timer();  // the client has this long to take the reply
        });
        self->pump();
      });
}

void Session::flush_control_reply() {
  auto write_all = [this](std::string& text, bool to_stderr) {
    while (!text.empty()) {
      const std::size_t size = std::min<std::size_t>(
          {text.size(), ssh_channel_window_size(client_channel_), std::size_t{32768}});
      if (size == 0) return false;
      const int written =
          to_stderr
              ? ssh_channel_write_stderr(client_channel_, text.data(), static_cast<uint32_t>(size))
              : ssh_channel_write(client_channel_, text.data(), static_cast<uint32_t>(size));
      if (written <= 0) return false;
      text.erase(0, static_cast<std::size_t>(written));
    }
    return true;
  };
  if (!ssh_channel_is_open(client_channel_)) return release();
  if (!write_all(control_reply_->out, false) || !write_all(control_reply_->err, true)) return;
  if (control_reply_->follow_up) {
    const FollowUp follow_up = *control_reply_->follow_up;
    control_reply_.reset();
    return begin_waiting(follow_up);
  }
  ssh_channel_request_send_exit_status(client_channel_, control_reply_->exit_status);
  ssh_channel_send_eof(client_channel_);
  close_client_channel();
  control_reply_.reset();
  begin_draining();
}

// Ends a control command that went on (connect, wait) the way a reply ends: `err` on stderr,
// then the exit status.
void Session::end_control(std::string err, int exit_status) {
  ControlReply reply;
  reply.err = setup_.pty ? for_terminal(err) : std::move(err);
  reply.exit_status = exit_status;
  control_reply_ = std::move(reply);
  phase_ = Phase::control;
  arm_login_timer();
}

// Everything the session shows and does goes into its recording, tied to the grant and the
// approvals that let it happen.
void Session::start_recording(const access::Admission& admission,
                              const std::vector<access::Approval>& approvals) {
  recorder::Header header;
  header.session_id = record_id_;
  header.node = context_.config.server.node_name;
  header.grant_id = admission.grant.id;
  header.user = user_;
  header.target = admission.target.name;
  header.login = admission.account.login;
  header.reason = admission.grant.reason;
  header.ticket = admission.grant.ticket;
  for (const access::Approval& approval : approvals) {
    header.approvals.push_back(recorder::Approval{approval.approver, approval.at});
  }
  header.break_glass = admission.grant.break_glass;
  header.client = client_address_;
  header.started_at = context_.clock.now();
  if (setup_.pty) {
    header.cols = static_cast<std::uint16_t>(setup_.pty->cols);
    header.rows = static_cast<std::uint16_t>(setup_.pty->rows);
    header.term = setup_.pty->term;
  }
  const access::CompiledRule* rule = context_.policy.governing(
      identity_->user ? identity_->user->roles : std::vector<std::string>{}, admission.grant);
  const bool record_input = rule != nullptr && rule->config.record_input
                                ? *rule->config.record_input
                                : context_.config.recording.record_input;
  auto recording = context_.recordings.record(
      std::move(header), record_input,
      [weak = weak_from_this()](const std::string& why) {
        if (auto self = weak.lock()) {
          self->guarded("recording", [&] { self->on_recording_failure(why); });
        }
      },
      [weak = weak_from_this()] {
        if (auto self = weak.lock()) self->pump();
      });
  observers_.add(std::make_shared<RecordingObserver>(std::move(recording)));
  if (!pty_clamped_from_.empty()) observers_.marker("clamped pty-req " + pty_clamped_from_);
  if (setup_.kind == StartKind::exec) observers_.exec(setup_.command);
  if (setup_.kind == StartKind::subsystem) observers_.exec("subsystem " + setup_.command);
}

void Session::on_recording_failure(const std::string& why) {
  audit_later(context_.journal, "portcullisd:" + context_.config.server.node_name,
              "recording.failed", "session:" + std::to_string(record_id_), {{"error", why}});
  if (context_.config.recording.on_record_failure == OnRecordFailure::continue_unrecorded) {
    spdlog::error(
        "session={} continues UNRECORDED ([recording] on_record_failure = "
        "\"continue\"): {}",
        record_id_, why);
    return;
  }
  terminate(access::EndReason::error,
            "the session recording cannot be written (" + why + "); session closed");
}

void Session::record_marker(const std::string& text) { observers_.marker(text); }

void Session::set_expiry(access::TimePoint expires_at) {
  guarded("grant extension", [&] { apply_expiry(expires_at); });
}

void Session::apply_expiry(access::TimePoint expires_at) {
  if (expires_at == expires_at_) return;
  const bool first = expires_at_ == access::TimePoint{};
  const std::string grant = "grant " + std::to_string(grant_id_);
  if (!first && expires_at > expires_at_) {
    write_notice("portcullis: " + grant + " was extended; it now ends at " +
                 format_rfc3339(expires_at));
    record_marker("extension " + format_rfc3339(expires_at));
  } else if (!first && expires_at < expires_at_) {
    // Only a revoked extension moves a grant's end earlier: the time is taken back.
    if (expires_at <= context_.clock.now()) {
      return terminate(access::EndReason::revoked,
                       grant + " lost its extension, which was revoked; it ended at " +
                           format_rfc3339(expires_at) + "; session closed");
    }
    write_notice("portcullis: " + grant +
                 " lost its extension, which was revoked; it now ends at " +
                 format_rfc3339(expires_at));
    record_marker("extension revoked " + format_rfc3339(expires_at));
  }
  expires_at_ = expires_at;
  arm_end();
}

// The grant's end, or the end of its rule's allowed hours when that comes first.
access::TimePoint Session::ends_at() const {
  return hours_end_ ? std::min(expires_at_, *hours_end_) : expires_at_;
}

bool Session::hours_end_first() const { return hours_end_ && *hours_end_ < expires_at_; }

std::string Session::what_ends() const {
  return hours_end_first()
             ? "the allowed hours of grant " + std::to_string(grant_id_) + " (" + hours_ + ")"
             : "grant " + std::to_string(grant_id_);
}

void Session::arm_end() {
  arm_warning();
  const access::TimePoint end = ends_at();
  expiry_timer_.expires_after(std::max(context_.clock.until(end), {}));
  expiry_timer_.async_wait([self = shared_from_this(), end](boost::system::error_code ec) {
    if (ec) return;
    if (self->hours_end_first()) {
      return self->terminate(access::EndReason::grant_expired,
                             self->what_ends() + " ended at " + format_rfc3339(end) +
                                 "; session closed. Connect again when they start again.");
    }
    self->terminate(access::EndReason::grant_expired,
                    "grant " + std::to_string(self->grant_id_) + " expired at " +
                        format_rfc3339(end) + "; session closed. Ask for a new grant to continue.");
  });
}

// ---------------------------------------------------------------- end of session

// Warns the user before the session must end, at each of [access] warn_before still ahead.
void Session::arm_warning() {
  const access::TimePoint now = context_.clock.now();
  const access::TimePoint end = ends_at();
  std::optional<std::chrono::seconds> next;
  for (std::chrono::seconds before : context_.config.access.warn_before) {
    if (end - before > now && (!next || before > *next)) next = before;
  }
  warning_timer_.cancel();
  if (!next) return;
  const std::chrono::seconds before = *next;
  warning_timer_.expires_after(context_.clock.until(end - before));
  warning_timer_.async_wait([self = shared_from_this(), before](boost::system::error_code ec) {
    if (ec || self->phase_ != Phase::bridging) return;
    self->guarded("grant warning", [&] {
      self->record_marker("grant_warning " + format_duration(before));
      const std::string more =
          self->hours_end_first()
              ? "connect again when they start again"
              : "for more time: ssh " + self->user_ + "@<this bastion> extend " +
                    std::to_string(self->grant_id_) + " --for DURATION --reason TEXT";
      self->write_notice("portcullis: " + self->what_ends() + " end" +
                         (self->hours_end_first() ? "" : "s") + " in " + format_duration(before) +
                         " (at " + format_rfc3339(self->ends_at()) + "); " + more);
      self->arm_warning();
    });
  });
}

void Session::on_client_signal(ssh_session, ssh_channel, const char* signal,
                               void* userdata) noexcept {
  // Inside a libssh callback: only note it; it is forwarded after the poll returns. Nothing
  // may be thrown through libssh's C frames.
  auto& self = *static_cast<Session*>(userdata);
  try {
    std::optional<std::string> name = peer::signal_name(signal);
    if (name && self.pending_signals_.size() < kMaxPendingSignals) {
      self.pending_signals_.push_back(std::move(*name));
    } else {
      ++self.dropped_signals_;
    }
  } catch (...) {
    ++self.dropped_signals_;
  }
}

void Session::check_bridge() {
  for (const std::string& signal : pending_signals_) {
    ssh_channel_request_send_signal(upstream_->channel, signal.c_str());
  }
  pending_signals_.clear();
  // While the recording catches up with the disk, data waits in the SSH windows.
  bool healthy = bridge_->transfer();
  if (ssh_channel_is_closed(client_channel_) || is_gone(client_.get())) {
    finish(access::EndReason::client_exit, std::nullopt);
    return release();  // also drops the upstream connection
  }
  bool upstream_closed =
      ssh_channel_is_closed(upstream_->channel) || is_gone(upstream_->session.get());
  // Output still on its way to the client is delivered before the channel closes.
  if (healthy && !(upstream_closed && bridge_->upstream_done())) return;
  const ChannelOutcome& outcome = *upstream_->outcome;
  bool exited = outcome.exit_status.has_value() || outcome.exit_signal.has_value();
  if (!exited) {
    write_notice("portcullis: the connection to target " + target_ + " was lost");
    record_marker("upstream_closed");
  }
  forward_exit_to_client();
  close_client_channel();
  drop_upstream();
  finish(exited ? access::EndReason::client_exit : access::EndReason::upstream_closed,
         outcome.exit_status);
  begin_draining();
}

void Session::drop_upstream() {
  if (!upstream_ || !upstream_->session) return;
  boost::system::error_code ignored;
  upstream_watch_.close(ignored);
  ssh_event_remove_session(event_.get(), upstream_->session.get());
  disconnect_upstream(*upstream_);
}

void Session::begin_draining() {
  phase_ = Phase::draining;
  drain_timer_.expires_after(kDrainGrace);
  drain_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->guarded("drain timer", [&] { self->release(); });
  });
}

void Session::forward_exit_to_client() {
  const ChannelOutcome& outcome = *upstream_->outcome;
  if (outcome.exit_status) {
    record_marker("exit_status " + std::to_string(*outcome.exit_status));
    ssh_channel_request_send_exit_status(client_channel_, *outcome.exit_status);
  } else if (outcome.exit_signal) {
    record_marker("exit_signal " + *outcome.exit_signal);
    ssh_channel_request_send_exit_signal(client_channel_, outcome.exit_signal->c_str(),
                                         outcome.core_dumped, outcome.error_message.c_str(), "");
  }
}

void Session::terminate(access::EndReason reason, const std::string& notice) {
  guarded("termination", [&] { end_from_bastion(reason, notice); });
}

void Session::end_from_bastion(access::EndReason reason, const std::string& notice) {
  if (phase_ != Phase::bridging) {
    if (phase_ != Phase::draining && phase_ != Phase::closed) release();
    return;
  }
  spdlog::info("session={} user={} target={} terminated: {}", record_id_, user_, target_,
               access::to_string(reason));
  record_marker(access::to_string(reason));
  write_notice("portcullis: " + notice);
  close_client_channel();
  drop_upstream();
  finish(reason, std::nullopt);
  begin_draining();
  watch();
}

void Session::refuse(const std::string& notice) {
  spdlog::info("conn={} user={} client={} access denied: {}", connection_id_, user_,
               client_address_, notice);
  audit_later(context_.journal, user_.empty() ? "anonymous" : user_, "session.denied",
              "login:" + identity_->login_name, {{"client", client_address_}, {"reason", notice}});
  end_with_notice("portcullis: access denied: " + notice);
}

void Session::end_with_notice(const std::string& text) {
  write_notice(text);
  ssh_channel_request_send_exit_status(client_channel_, 255);
  close_client_channel();
  begin_draining();
}

// A notice waits for room in the client's window (it may be full of output the client has not
// read yet) rather than being cut; the channel is closed only after it.
void Session::write_notice(const std::string& text) {
  if (client_channel_ == nullptr || !ssh_channel_is_open(client_channel_)) return;
  pending_notice_ += (setup_.pty ? "\r\n" : "") + text + (setup_.pty ? "\r\n" : "\n");
  flush_notice();
}

bool Session::flush_notice() {
  while (!pending_notice_.empty() && ssh_channel_is_open(client_channel_)) {
    const std::size_t size =
        std::min<std::size_t>(pending_notice_.size(), ssh_channel_window_size(client_channel_));
    if (size == 0) return false;
    const int written = ssh_channel_write_stderr(client_channel_, pending_notice_.data(),
                                                 static_cast<uint32_t>(size));
    if (written <= 0) return false;
    pending_notice_.erase(0, static_cast<std::size_t>(written));
  }
  pending_notice_.clear();
  return true;
}

void Session::close_client_channel() {
  if (client_channel_ == nullptr || !ssh_channel_is_open(client_channel_)) return;
  close_after_notice_ = !flush_notice();
  if (!close_after_notice_) ssh_channel_close(client_channel_);
}

void Session::finish(access::EndReason reason, std::optional<int> exit_status) {
  if (finished_ || record_id_ == 0) return;
  finished_ = true;
  expiry_timer_.cancel();
  warning_timer_.cancel();
  observers_.end(access::to_string(reason));
  spdlog::info("session={} user={} target={} login={} ended: {} exit_status={}", record_id_, user_,
               target_, login_, access::to_string(reason),
               exit_status ? std::to_string(*exit_status) : "none");
  context_.journal.submit(
      access::journal_session_end(record_id_, reason, exit_status, context_.clock.now()));
}

void Session::release() {
  if (phase_ == Phase::closed) return;
  // Refused attempts and no success: the next connection from this address waits longer.
  if (phase_ <= Phase::authenticating && auth_failures_ > 0) {
    context_.limits.login_failed(startup_.source());
  }
  phase_ = Phase::closed;
  startup_.release();
  login_timer_.cancel();
  expiry_timer_.cancel();
  drain_timer_.cancel();
  warning_timer_.cancel();
  decision_timer_.cancel();
  // A requester who leaves while `connect` waits no longer wants the access.
  if (waiting_ && waiting_->withdraw_on_interrupt) withdraw_on_interrupt();
  boost::system::error_code ignored;
  client_watch_.close(ignored);
  drop_upstream();
  if (event_) ssh_event_remove_session(event_.get(), client_.get());
  ssh_disconnect(client_.get());
  waiting_for_identity_.clear();
  start_request_.reset();
  context_.registry.remove(*this);
  log_refusal_counts();
}

void Session::log_refusal_counts() const {
  for (const auto& [kind, count] : refusals_) {
    if (count > 1) {
      spdlog::info("conn={} user={} client={} refused {} {} times in all (audited once)",
                   connection_id_, user_, client_address_, kind, count);
    }
  }
  if (dropped_signals_ > 0) {
    spdlog::info("conn={} user={} dropped {} signal requests (a flood, or not signal names)",
                 connection_id_, user_, dropped_signals_);
  }
}

// ---------------------------------------------------------------- registry

void SessionRegistry::add(const std::shared_ptr<Session>& session) {
  sessions_[session->connection_id()] = session;
}

void SessionRegistry::remove(const Session& session) { sessions_.erase(session.connection_id()); }

std::shared_ptr<Session> SessionRegistry::find_record(std::int64_t record_id) const {
  for (const auto& [id, weak] : sessions_) {
    auto session = weak.lock();
    if (session && session->record_id() == record_id) return session;
  }
  return nullptr;
}

std::vector<std::shared_ptr<Session>> SessionRegistry::all() const {
  std::vector<std::shared_ptr<Session>> result;
  for (const auto& [id, weak] : sessions_) {
    if (auto session = weak.lock()) result.push_back(std::move(session));
  }
  return result;
}

std::vector<std::int64_t> SessionRegistry::record_ids() const {
  std::vector<std::int64_t> ids;
  for (const auto& session : all()) {
    if (session->record_id() != 0) ids.push_back(session->record_id());
  }
  return ids;
}

}  // namespace portcullis::proxy
