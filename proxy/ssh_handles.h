// Owning handles for the libssh sessions, binds, events and messages of the proxy, so every
// exit path frees them (keys and the text libssh returns: sshkey/sshkey.h).
#pragma once

#include <libssh/libssh.h>
#include <libssh/server.h>

#include <memory>

namespace portcullis::proxy {

struct SshBindDeleter {
  void operator()(ssh_bind bind) const { ssh_bind_free(bind); }
};
using SshBind = std::unique_ptr<ssh_bind_struct, SshBindDeleter>;

struct SshEventDeleter {
  void operator()(ssh_event event) const { ssh_event_free(event); }
};
using SshEvent = std::unique_ptr<ssh_event_struct, SshEventDeleter>;

struct SshMessageDeleter {
  void operator()(ssh_message message) const { ssh_message_free(message); }
};
using SshMessage = std::unique_ptr<ssh_message_struct, SshMessageDeleter>;

// Frees the session; libssh frees its channels with it.
struct SshSessionDeleter {
  void operator()(ssh_session session) const { ssh_free(session); }
};
using SshSession = std::unique_ptr<ssh_session_struct, SshSessionDeleter>;

}  // namespace portcullis::proxy
