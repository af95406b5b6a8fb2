#include "targetssh/targetssh.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "targetssh/host_key.h"

namespace portcullis::targetssh {
namespace {

// Whether the CPU encrypts AES in hardware (x86 "aes" flag, ARMv8 "aes" feature), read once.
bool cpu_has_aes() {
  static const bool has_aes = [] {
    std::ifstream cpuinfo("/proc/cpuinfo");
    for (std::string line; std::getline(cpuinfo, line);) {
      if (!line.starts_with("flags") && !line.starts_with("Features")) continue;
      std::istringstream words(line.substr(line.find(':') + 1));
      for (std::string word; words >> word;) {
        if (word == "aes") return true;
      }
      return false;
    }
    return false;
  }();
  return has_aes;
}

// The bastion decrypts everything a target sends and the target encrypts it: with AES in
// hardware, AES-GCM costs both about half of chacha20-poly1305 (libssh's first choice), so it
// leads; the other ciphers libssh offers by default follow for targets without it.
constexpr const char* kAesFirstCiphers =
    "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,"
    "aes256-ctr,aes192-ctr,aes128-ctr";

void set_option(ssh_session session, enum ssh_options_e option, const void* value) {
  if (ssh_options_set(session, option, value) != SSH_OK) {
    throw LoginError(std::string("cannot configure the session to the target: ") +
                     ssh_get_error(session));
  }
}

Session open_session(const access::Target& target, const std::string& login, const UniqueFd& socket,
                     std::chrono::seconds timeout) {
  Session session(ssh_new());
  if (!session) throw LoginError("out of memory");
  const int no = 0;
  const long timeout_seconds = static_cast<long>(timeout.count());
  const std::string algorithms = host_key_algorithms(target);
  set_option(session.get(), SSH_OPTIONS_PROCESS_CONFIG, &no);
  set_option(session.get(), SSH_OPTIONS_HOST, target.host.c_str());
  set_option(session.get(), SSH_OPTIONS_USER, login.c_str());
  set_option(session.get(), SSH_OPTIONS_KNOWNHOSTS, "/dev/null");
  set_option(session.get(), SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null");
  set_option(session.get(), SSH_OPTIONS_HOSTKEYS, algorithms.c_str());
  set_option(session.get(), SSH_OPTIONS_TIMEOUT, &timeout_seconds);
  if (cpu_has_aes()) {
    set_option(session.get(), SSH_OPTIONS_CIPHERS_C_S, kAesFirstCiphers);
    set_option(session.get(), SSH_OPTIONS_CIPHERS_S_C, kAesFirstCiphers);
  }
  // libssh may close the descriptor it is given on errors; it gets a duplicate, which
  // disconnect() closes.
  UniqueFd handed(::dup(socket.get()));
  if (!handed) throw LoginError("cannot hand the connection to the target over: out of files");
  const int fd = handed.get();
  set_option(session.get(), SSH_OPTIONS_FD, &fd);
  handed.release();
  return session;
}

void authenticate(ssh_session session, const access::Target& target, const std::string& login,
                  const Credential& credential) {
  int rc = SSH_AUTH_ERROR;
  switch (credential.kind) {
    case access::CredentialKind::password:
      rc = ssh_userauth_password(session, nullptr, credential.secret.reveal().c_str());
      break;
    case access::CredentialKind::key: {
      const sshkey::Key key = sshkey::import_private_key(credential.secret.reveal());
      if (!key)
        throw LoginError("the vaulted key for " + login + "@" + target.name + " cannot be read");
      rc = ssh_userauth_publickey(session, nullptr, key.get());
      break;
    }
    case access::CredentialKind::certificate:
      rc = ssh_userauth_publickey(session, nullptr, credential.key.get());
      break;
  }
  if (rc != SSH_AUTH_SUCCESS) {
    throw LoginError("target " + target.name + " refused the " +
                     access::to_string(credential.kind) + " credential for " + login);
  }
}

}  // namespace

Credential vaulted_credential(const access::Account& account, const vault::Vault& vault) {
  Credential credential;
  credential.kind = account.kind;
  credential.secret = vault.unseal(account.sealed_secret,
                                   access::account_context(account.target_name, account.login));
  return credential;
}

Session log_in(const access::Target& target, const std::string& login, const Credential& credential,
               const UniqueFd& socket, std::chrono::seconds timeout) {
  Session session = open_session(target, login, socket, timeout);
  if (ssh_connect(session.get()) != SSH_OK) {
    const std::string why = ssh_get_error(session.get());
    disconnect(session);
    throw LoginError("cannot connect to target " + target.name + ": " + why);
  }
  try {
    check_host_key(session.get(), target, timeout);
    authenticate(session.get(), target, login, credential);
  } catch (...) {
    disconnect(session);
    throw;
  }
  return session;
}

void disconnect(Session& session) {
  if (!session) return;
  socket_t fd = ssh_get_fd(session.get());
  ssh_disconnect(session.get());
  if (fd != SSH_INVALID_SOCKET) ::close(fd);
  session.reset();
}

}  // namespace portcullis::targetssh
