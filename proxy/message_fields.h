// Typed access to the fields of a libssh server message. libssh 0.10 marks several of
// these accessors deprecated (in favour of callbacks that cannot defer a reply); the
// gateway needs deferred replies, so the deprecation is contained in this one file.
#pragma once

#include <libssh/libssh.h>
#include <libssh/server.h>

#include <string>

namespace portcullis::proxy {

struct AuthPublicKey {
  ssh_key key = nullptr;  // owned by the message
  enum ssh_publickey_state_e state = SSH_PUBLICKEY_STATE_NONE;
};
AuthPublicKey auth_public_key(ssh_message message);

struct TerminalSize {
  int cols = 80;
  int rows = 24;
  int px_width = 0;
  int px_height = 0;
};
// pty-req and window-change carry the same size fields.
TerminalSize requested_size(ssh_message message);
std::string requested_term(ssh_message message);

}  // namespace portcullis::proxy
