// Public keys in OpenSSH's one-line text form, as stored for users and targets.
#pragma once

#include <string>
#include <vector>

#include "proxy/ssh_handles.h"

namespace portcullis::proxy {

// "ssh-ed25519 AAAA... comment" -> key, or null when the line does not parse.
SshKey parse_public_key(const std::string& openssh_line);

// "SHA256:..." as ssh-keygen -l prints it.
std::string fingerprint(ssh_key key);

// True when `key` equals one of the OpenSSH lines in `allowed`.
bool key_is_listed(ssh_key key, const std::vector<std::string>& allowed);

}  // namespace portcullis::proxy
