// Channel requests (as sshd's session.c): one session channel, its pty, env, window changes
// and signals, and the start request (shell, exec, subsystem) that hands over to admission.
// What a client may not do (forwarding, agent, x11, oversized requests) is refused here and
// audited once per kind.
#include <spdlog/spdlog.h>

#include "proxy/session.h"
#include "proxy/session_internal.h"

namespace portcullis::proxy {
namespace {

// A client gets at most this many signals forwarded per pass of the loop; a flood beyond it is
// dropped (and counted) rather than queued without bound.
constexpr std::size_t kMaxPendingSignals = 16;

bool is_allowed_env(const std::string& name) {
  return name == "LANG" || name == "TERM" || name.rfind("LC_", 0) == 0;
}

}  // namespace

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
  } else if (setup_.pty &&
             (phase_ < Phase::bridging || phase_ == Phase::waiting || phase_ == Phase::watching)) {
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

}  // namespace portcullis::proxy
