// Logging in to a target over SSH as the bastion: the connection, the target's host key checked
// against what the bastion trusts for it, and the login with a credential the engineer never
// sees. Blocking: callers run it on a worker thread. Used by the gateway (a session's upstream)
// and by credential rotation.
#pragma once

#include <libssh/libssh.h>
#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "access/access.h"
#include "common/common.h"
#include "sshkey/sshkey.h"
#include "vault/vault.h"

namespace portcullis::targetssh {

// Frees the session; libssh frees its channels with it.
struct SessionDeleter {
  void operator()(ssh_session session) const { ssh_free(session); }
};
using Session = std::unique_ptr<ssh_session_struct, SessionDeleter>;

// Why a login failed, fit to show the user: never a secret.
class LoginError : public std::runtime_error {
 public:
  explicit LoginError(const std::string& message, bool host_key_refused = false)
      : std::runtime_error(message), host_key_refused_(host_key_refused) {}
  // The target presented a host key the bastion does not trust for it (a pinned key mismatch,
  // or a host certificate that is expired, for another name or from another CA).
  bool host_key_refused() const { return host_key_refused_; }

 private:
  bool host_key_refused_;
};

// What the bastion logs in with.
struct Credential {
  access::CredentialKind kind = access::CredentialKind::key;
  vault::Secret secret;  // kind password: the password; kind key: the private key's text
  sshkey::Key key;       // kind certificate: the private key with its certificate attached
};

// The vaulted credential of `account` (kind password or key), unsealed. Throws
// vault::VaultError when the sealed secret does not open.
Credential vaulted_credential(const access::Account& account, const vault::Vault& vault);

// One address of a target, as getaddrinfo gave it.
struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;
};

// The addresses of host:port, at least one (blocking: getaddrinfo, for a worker thread). Throws
// LoginError "cannot resolve HOST: why". Sessions dial them asynchronously (proxy), rotation
// with dial() below.
std::vector<Address> resolve(const std::string& host, std::uint16_t port);

// A blocking TCP connection to target.host:port (the first address that accepts within
// `timeout`), for callers off the event loop. Throws LoginError.
UniqueFd dial(const access::Target& target, std::chrono::seconds timeout);

// Over `socket` (connected to the target, blocking): checks the host key and logs in as
// `login`. `timeout` bounds each wait for the target. Throws LoginError.
Session log_in(const access::Target& target, const std::string& login, const Credential& credential,
               const UniqueFd& socket, std::chrono::seconds timeout);

// Closes the connection politely and frees it. libssh does not close a socket it was given
// with SSH_OPTIONS_FD on disconnect, so this does.
void disconnect(Session& session);

}  // namespace portcullis::targetssh
