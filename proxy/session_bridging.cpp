// A running session: signals passed on, the bridge's bytes moved, and the end of the target's
// command (its exit status or signal, or a lost connection) handed to the client.
#include <spdlog/spdlog.h>

#include "proxy/session.h"
#include "proxy/session_internal.h"

namespace portcullis::proxy {

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

}  // namespace portcullis::proxy
