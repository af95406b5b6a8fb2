// The bastion's side of the connection to a target, once dial_target (upstream_dial.h) has
// connected and the target has spoken: the login (targetssh: host key trust, the credential),
// then the session channel with the client's requests replayed on it. Blocking:
// runs on an upstream thread; the result is handed to the loop.
#pragma once

#include <libssh/callbacks.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "access/access.h"
#include "targetssh/targetssh.h"

namespace portcullis::proxy {

struct PtyRequest {
  std::string term = "xterm";
  int cols = 80;
  int rows = 24;
  int px_width = 0;
  int px_height = 0;
};

enum class StartKind { shell, exec, subsystem };

// What the client asked for on its session channel, to replay upstream.
struct ChannelSetup {
  std::optional<PtyRequest> pty;
  std::vector<std::pair<std::string, std::string>> env;
  StartKind kind = StartKind::shell;
  std::string command;  // exec command line or subsystem name
};

// How the target's command ended. libssh 0.10 only reports an exit signal through a
// channel callback, so it is caught from the moment the channel opens.
struct ChannelOutcome {
  std::optional<int> exit_status;
  std::optional<std::string> exit_signal;
  bool core_dumped = false;
  std::string error_message;
};

struct UpstreamConnection {
  targetssh::Session session;
  ssh_channel channel = nullptr;  // owned by `session`
  // Heap-held so the callback pointers libssh keeps stay valid when this moves.
  std::unique_ptr<ssh_channel_callbacks_struct> callbacks;
  std::unique_ptr<ChannelOutcome> outcome;
};

struct UpstreamFailure {
  std::string message;  // safe to show to the user: no secrets
  // The target's host key is not the one pinned, or its host certificate is not trusted.
  bool host_key_mismatch = false;
};

struct UpstreamResult {
  std::optional<UpstreamConnection> connection;
  UpstreamFailure failure;
};

// `socket`: connected to the target (blocking), its identification line waiting to be read.
// `timeout` bounds each wait for the target.
UpstreamResult login_upstream(UniqueFd socket, const access::Target& target,
                              const std::string& login, const targetssh::Credential& credential,
                              const ChannelSetup& setup, std::chrono::seconds timeout);

// Closes the connection politely and frees it.
void disconnect_upstream(UpstreamConnection& connection);

}  // namespace portcullis::proxy
