// What the bastion runs on a target as the account it rotates, over exec channels of a
// logged-in session (targetssh::log_in): reading and atomically replacing the authorized_keys
// file, and passwd under a pty. Nothing secret is on a command line: a file's contents go over
// stdin, and passwords are typed at passwd's prompts (which do not echo).
#pragma once

#include <libssh/libssh.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include "vault/vault.h"

namespace portcullis::rotation {

// A remote command failed; the message says which and why (the target's own words), never a
// secret.
class RemoteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// `path` must be a checked authorized_keys path (access::set_account_rotation): it is put in
// single quotes as it is. Relative paths are relative to the login's home.
std::string read_remote_file(ssh_session session, const std::string& path,
                             std::chrono::seconds timeout);

// Writes `text` to a temporary file beside `path`, checks it arrived whole, gives it `path`'s
// mode and renames it over `path`: a reader (sshd) sees the old file or the new, never a part.
void replace_remote_file(ssh_session session, const std::string& path, const std::string& text,
                         std::chrono::seconds timeout);

// Runs passwd under a pty and answers its prompts: `current` for the current password, `next`
// for the new one and its repetition. Throws RemoteError when passwd asks twice (it refused the
// new password), fails, or does not finish within `timeout`.
void run_passwd(ssh_session session, const vault::Secret& current, const vault::Secret& next,
                std::chrono::seconds timeout);

}  // namespace portcullis::rotation
