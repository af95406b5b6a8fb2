// The phase machine of a connection (key exchange, authentication, ready, starting, bridging,
// control, waiting, draining, closed), the event loop plumbing that drives it, and the end of
// a session. Each concern the phases hand over to lives in a session_*.cpp of its own.
#include "proxy/session.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <cstring>

#include "proxy/peer_input.h"
#include "proxy/session_internal.h"

namespace portcullis::proxy {
namespace {

// After the bastion closes a channel, the client gets this long to read the notice and
// hang up before the connection is dropped.
constexpr std::chrono::seconds kDrainGrace{2};

std::atomic<std::uint64_t> next_connection_id{1};

// The end of the client's identification line ("SSH-2.0-...\r\n") waits in the socket: looked
// at without taking it. A connection that sends its line a byte at a time (slowloris) is not
// identified until the line is complete.
bool identification_arrived(int fd) {
  char buffer[256];
  const ssize_t got = ::recv(fd, buffer, sizeof buffer, MSG_PEEK | MSG_DONTWAIT);
  return got > 0 && std::memchr(buffer, '\n', static_cast<std::size_t>(got)) != nullptr;
}

}  // namespace

Session::Session(GatewayContext& context, EventLoops::Placement placement, int client_fd,
                 std::string client_address, ConnectionLimits::Slot startup)
    : context_(context),
      placement_(std::move(placement)),
      connection_id_(next_connection_id++),
      client_address_(std::move(client_address)),
      client_ip_(client_address_.substr(0, client_address_.rfind(':'))),
      phase_(Phase::key_exchange, PhaseChange{&context.metrics, &context.registry, connection_id_}),
      client_(ssh_new()),
      client_watch_(context.loop),
      login_timer_(context.loop),
      drain_timer_(context.loop),
      decision_timer_(context.loop),
      watch_timer_(context.loop),
      sso_timer_(context.loop),
      expiry_(context.loop, context.clock, context.live.current()->config.access.warn_before),
      startup_(std::move(startup)),
      upstream_watch_(context.loop),
      row_(SessionRow::none, RowCount{&context.metrics}) {
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
  context_.registry.add(shared_from_this(), context_.loop);
  // Events is a private base: an aliasing pointer shares the session's ownership.
  expiry_.tell(std::shared_ptr<SessionExpiry::Events>(shared_from_this(),
                                                      static_cast<SessionExpiry::Events*>(this)));
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
  login_timer_.expires_after(context_.live.current()->config.server.login_grace);
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
    // Noted before libssh reads the line and answers it with its key exchange offer: once the
    // client can see that answer, a newcomer admitted on another loop must already find this
    // connection identified, not silent (the first to lose its place).
    if (identification_arrived(client_watch_.native_handle())) startup_.identified();
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
    ssh_set_auth_methods(client_.get(), offered_methods());
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
  if (phase_ == Phase::watching) read_while_watching();
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

// ---------------------------------------------------------------- messages from the client

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

// ---------------------------------------------------------------- grant expiry

void Session::set_expiry(access::TimePoint expires_at) {
  guarded("grant extension", [&] { expiry_.set_expiry(expires_at); });
}

void Session::expiry_notice(const std::string& notice, const std::string& marker) {
  write_notice("portcullis: " + notice);
  record_marker(marker);
}

bool Session::expiry_warning(const std::string& notice, const std::string& marker) {
  if (phase_ != Phase::bridging) return false;
  guarded("grant warning", [&] {
    record_marker(marker);
    write_notice("portcullis: " + notice);
  });
  return phase_ == Phase::bridging;
}

void Session::expiry_reached(access::EndReason reason, const std::string& notice,
                             std::optional<access::TimePoint> due) {
  terminate(reason, notice, due);
}

// ---------------------------------------------------------------- end of session

void Session::terminate(access::EndReason reason, const std::string& notice,
                        std::optional<access::TimePoint> due) {
  guarded("termination", [&] { end_from_bastion(reason, notice, due); });
}

void Session::end_from_bastion(access::EndReason reason, const std::string& notice,
                               std::optional<access::TimePoint> due) {
  if (awaiting_moderator_ && phase_ == Phase::starting) {
    // Killed, revoked or expired before a moderator came: the row closes with that reason.
    count_lateness(reason, due);
    awaiting_moderator_.reset();
    write_notice("portcullis: " + notice);
    finish(reason, std::nullopt);
    close_client_channel();
    return begin_draining();
  }
  if (phase_ != Phase::bridging) {
    if (phase_ != Phase::draining && phase_ != Phase::closed) release();
    return;
  }
  spdlog::info("session={} user={} target={} terminated: {}", record_id_, user_, target_,
               access::to_string(reason));
  count_lateness(reason, due);
  record_marker(access::to_string(reason));
  write_notice("portcullis: " + notice);
  close_client_channel();
  drop_upstream();
  finish(reason, std::nullopt);
  begin_draining();
  watch();
}

void Session::finish(access::EndReason reason, std::optional<int> exit_status) {
  if (row_ != SessionRow::open) return;
  row_ = SessionRow::closed;
  expiry_.stop();
  observers_.end(access::to_string(reason));
  spdlog::info("session={} user={} target={} login={} ended: {} exit_status={}", record_id_, user_,
               target_, login_, access::to_string(reason),
               exit_status ? std::to_string(*exit_status) : "none");
  end_row_later(context_.journal, context_.metrics, record_id_, reason, exit_status,
                context_.clock.now());
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
  expiry_.stop();
  drain_timer_.cancel();
  decision_timer_.cancel();
  watch_timer_.cancel();
  sso_timer_.cancel();
  leave_watched();
  // The user left while waiting for a moderator: the target was never reached.
  if (std::exchange(awaiting_moderator_, std::nullopt)) {
    finish(access::EndReason::client_exit, std::nullopt);
  }
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

void Session::begin_draining() {
  phase_ = Phase::draining;
  drain_timer_.expires_after(kDrainGrace);
  drain_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->guarded("drain timer", [&] { self->release(); });
  });
}

}  // namespace portcullis::proxy
