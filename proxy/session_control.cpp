// Control commands (`ssh USER@bastion request ...`): run on the workers, their reply written
// as the client's window allows, then the exit status; a command that goes on (connect,
// wait) hands over to session_waiting.cpp.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include "proxy/session.h"
#include "web/console.h"

namespace portcullis::proxy {
namespace {

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

void Session::run_control(const std::string& command_line) {
  phase_ = Phase::control;
  login_timer_.cancel();
  spdlog::info("conn={} user={} client={} control command: {}", connection_id_, user_,
               client_address_, peer::printable(command_line, 200));
  const Endpoint reached = public_endpoint(context_.config.server, client_watch_.native_handle());
  const std::shared_ptr<const RunningConfig> running = context_.live.current();
  const ControlEnvironment env{context_.workers.pool(),
                               context_.clock,
                               running->policy,
                               running->config,
                               reached.host,
                               reached.port,
                               setup_.pty.has_value(),
                               running,
                               web::console_base_url(running->config.web, reached.host),
                               client_address_};
  access::Actor actor = this->actor();
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
  if (control_reply_->watch) {
    WatchFollowUp watch = std::move(*control_reply_->watch);
    control_reply_.reset();
    return begin_watching(std::move(watch));
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
}  // namespace portcullis::proxy
