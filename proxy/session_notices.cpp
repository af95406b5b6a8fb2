// Lines for the client on its stderr: refusals, and notices that wait for room in the
// channel's window before the channel closes behind them.
#include <spdlog/spdlog.h>

#include "proxy/session.h"
#include "proxy/session_internal.h"

namespace portcullis::proxy {

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

}  // namespace portcullis::proxy
