#include "proxy/message_fields.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace portcullis::proxy {

AuthPublicKey auth_public_key(ssh_message message) {
  return AuthPublicKey{ssh_message_auth_pubkey(message), ssh_message_auth_publickey_state(message)};
}

TerminalSize requested_size(ssh_message message) {
  return TerminalSize{ssh_message_channel_request_pty_width(message),
                      ssh_message_channel_request_pty_height(message),
                      ssh_message_channel_request_pty_pxwidth(message),
                      ssh_message_channel_request_pty_pxheight(message)};
}

std::string requested_term(ssh_message message) {
  const char* term = ssh_message_channel_request_pty_term(message);
  return term != nullptr ? term : "";
}

}  // namespace portcullis::proxy
