#include "proxy/upstream.h"

#include <memory>

#include "common/common.h"

namespace portcullis::proxy {
namespace {

struct Failure {
  UpstreamFailure failure;
};

[[noreturn]] void fail(std::string message) { throw Failure{UpstreamFailure{std::move(message)}}; }

void on_exit_status(ssh_session, ssh_channel, int status, void* userdata) {
  static_cast<ChannelOutcome*>(userdata)->exit_status = status;
}

void on_exit_signal(ssh_session, ssh_channel, const char* signal, int core, const char* errmsg,
                    const char*, void* userdata) {
  auto* outcome = static_cast<ChannelOutcome*>(userdata);
  outcome->exit_signal = signal != nullptr ? signal : "";
  outcome->core_dumped = core != 0;
  outcome->error_message = errmsg != nullptr ? errmsg : "";
}

void watch_outcome(UpstreamConnection& connection) {
  connection.outcome = std::make_unique<ChannelOutcome>();
  connection.callbacks = std::make_unique<ssh_channel_callbacks_struct>();
  ssh_channel_callbacks_struct& callbacks = *connection.callbacks;
  ssh_callbacks_init(&callbacks);
  callbacks.userdata = connection.outcome.get();
  callbacks.channel_exit_status_function = on_exit_status;
  callbacks.channel_exit_signal_function = on_exit_signal;
  ssh_set_channel_callbacks(connection.channel, &callbacks);
}

void open_channel(UpstreamConnection& connection, const ChannelSetup& setup) {
  ssh_session session = connection.session.get();
  ssh_channel channel = ssh_channel_new(session);
  if (channel == nullptr || ssh_channel_open_session(channel) != SSH_OK) {
    fail(std::string("cannot open a session on the target: ") + ssh_get_error(session));
  }
  connection.channel = channel;
  watch_outcome(connection);
  // A target that does not accept an environment variable is not an error (sshd AcceptEnv).
  for (const auto& [name, value] : setup.env) {
    ssh_channel_request_env(channel, name.c_str(), value.c_str());
  }
  if (setup.pty && ssh_channel_request_pty_size(channel, setup.pty->term.c_str(), setup.pty->cols,
                                                setup.pty->rows) != SSH_OK) {
    fail("the target refused a terminal");
  }
  int rc = SSH_ERROR;
  switch (setup.kind) {
    case StartKind::shell:
      rc = ssh_channel_request_shell(channel);
      break;
    case StartKind::exec:
      rc = ssh_channel_request_exec(channel, setup.command.c_str());
      break;
    case StartKind::subsystem:
      rc = ssh_channel_request_subsystem(channel, setup.command.c_str());
      break;
  }
  if (rc != SSH_OK) fail("the target refused to start the session");
}

}  // namespace

UpstreamResult login_upstream(UniqueFd socket, const access::Target& target,
                              const std::string& login, const targetssh::Credential& credential,
                              const ChannelSetup& setup, std::chrono::seconds timeout) {
  UpstreamResult result;
  try {
    UpstreamConnection connection{targetssh::log_in(target, login, credential, socket, timeout),
                                  nullptr, nullptr, nullptr};
    try {
      open_channel(connection, setup);
    } catch (...) {
      disconnect_upstream(connection);
      throw;
    }
    ssh_set_blocking(connection.session.get(), 0);
    result.connection = std::move(connection);
  } catch (const Failure& f) {
    result.failure = f.failure;
  } catch (const targetssh::LoginError& e) {
    result.failure = UpstreamFailure{e.what(), e.host_key_refused()};
  }
  return result;
}

void disconnect_upstream(UpstreamConnection& connection) {
  targetssh::disconnect(connection.session);
  connection.channel = nullptr;
}

}  // namespace portcullis::proxy
