// Owning handles for libssh objects, so every exit path frees them.
#pragma once

#include <libssh/libssh.h>
#include <libssh/server.h>

#include <memory>

namespace portcullis::proxy {

struct SshKeyDeleter {
  void operator()(ssh_key key) const { ssh_key_free(key); }
};
using SshKey = std::unique_ptr<ssh_key_struct, SshKeyDeleter>;

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

struct SshStringDeleter {
  void operator()(ssh_string s) const { ssh_string_free(s); }
};
using SshString = std::unique_ptr<ssh_string_struct, SshStringDeleter>;

}  // namespace portcullis::proxy
