#include "proxy/upstream.h"

#include <unistd.h>

#include <memory>

#include "common/common.h"
#include "sshkey/sshkey.h"

namespace portcullis::proxy {
namespace {

struct Failure {
  UpstreamFailure failure;
};

[[noreturn]] void fail(std::string message, bool host_key_mismatch = false) {
  throw Failure{UpstreamFailure{std::move(message), host_key_mismatch}};
}

// Offer only the pinned key's algorithm, so a target with several host keys presents
// the one we pinned.
std::string host_key_algorithms(ssh_key pinned) {
  enum ssh_keytypes_e type = ssh_key_type(pinned);
  if (type == SSH_KEYTYPE_RSA) return "rsa-sha2-512,rsa-sha2-256";
  return ssh_key_type_to_char(type);
}

// For a message: a key libssh cannot hash is still worth naming as such.
std::string shown_fingerprint(ssh_key key) {
  return sshkey::fingerprint(key).value_or("(unknown)");
}

void set_option(ssh_session session, enum ssh_options_e option, const void* value) {
  if (ssh_options_set(session, option, value) != SSH_OK) {
    fail(std::string("cannot configure upstream session: ") + ssh_get_error(session));
  }
}

SshSession open_session(const access::Target& target, const access::Account& account, int fd,
                        ssh_key pinned, std::chrono::seconds timeout) {
  SshSession session(ssh_new());
  if (!session) fail("out of memory");
  const int no = 0;
  const long timeout_seconds = static_cast<long>(timeout.count());
  const std::string algorithms = host_key_algorithms(pinned);
  set_option(session.get(), SSH_OPTIONS_PROCESS_CONFIG, &no);
  set_option(session.get(), SSH_OPTIONS_HOST, target.host.c_str());
  set_option(session.get(), SSH_OPTIONS_USER, account.login.c_str());
  set_option(session.get(), SSH_OPTIONS_KNOWNHOSTS, "/dev/null");
  set_option(session.get(), SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null");
  set_option(session.get(), SSH_OPTIONS_HOSTKEYS, algorithms.c_str());
  set_option(session.get(), SSH_OPTIONS_TIMEOUT, &timeout_seconds);
  set_option(session.get(), SSH_OPTIONS_FD, &fd);
  return session;
}

void verify_host_key(ssh_session session, const access::Target& target, ssh_key pinned) {
  ssh_key presented_raw = nullptr;
  if (ssh_get_server_publickey(session, &presented_raw) != SSH_OK) {
    fail("target " + target.name + " presented no host key");
  }
  const sshkey::Key presented(presented_raw);
  if (ssh_key_cmp(presented.get(), pinned, SSH_KEY_CMP_PUBLIC) != 0) {
    fail("host key of target " + target.name + " does not match the pinned key (expected " +
             shown_fingerprint(pinned) + ", got " + shown_fingerprint(presented.get()) +
             "); refusing to connect",
         true);
  }
}

void authenticate(ssh_session session, const access::Target& target, const access::Account& account,
                  const vault::Vault& vault) {
  vault::Secret secret =
      vault.unseal(account.sealed_secret, access::account_context(target.name, account.login));
  int rc = SSH_AUTH_ERROR;
  if (account.kind == access::CredentialKind::password) {
    rc = ssh_userauth_password(session, nullptr, secret.reveal().c_str());
  } else {
    const sshkey::Key key = sshkey::import_private_key(secret.reveal());
    if (!key) fail("the vaulted key for " + account.login + "@" + target.name + " cannot be read");
    rc = ssh_userauth_publickey(session, nullptr, key.get());
  }
  if (rc != SSH_AUTH_SUCCESS) {
    fail("target " + target.name + " refused the vaulted credential for " + account.login);
  }
}

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
                              const access::Account& account, const vault::Vault& vault,
                              const ChannelSetup& setup, std::chrono::seconds timeout) {
  UpstreamResult result;
  try {
    const sshkey::Key pinned = sshkey::parse_public_key(target.host_key);
    if (!pinned) fail("the pinned host key of target " + target.name + " is not valid");
    // libssh may close the descriptor it is given on errors; it gets a duplicate.
    UniqueFd handed(::dup(socket.get()));
    SshSession session = open_session(target, account, handed.get(), pinned.get(), timeout);
    handed.release();
    if (ssh_connect(session.get()) != SSH_OK) {
      fail("cannot connect to target " + target.name + ": " + ssh_get_error(session.get()));
    }
    verify_host_key(session.get(), target, pinned.get());
    authenticate(session.get(), target, account, vault);
    UpstreamConnection connection{std::move(session), nullptr, nullptr, nullptr};
    open_channel(connection, setup);
    ssh_set_blocking(connection.session.get(), 0);
    result.connection = std::move(connection);
  } catch (const Failure& f) {
    result.failure = f.failure;
  } catch (const vault::VaultError& e) {
    result.failure.message = e.what();
  }
  return result;
}

void disconnect_upstream(UpstreamConnection& connection) {
  if (!connection.session) return;
  socket_t fd = ssh_get_fd(connection.session.get());
  ssh_disconnect(connection.session.get());
  if (fd != SSH_INVALID_SOCKET) ::close(fd);
  connection.session.reset();
  connection.channel = nullptr;
}

}  // namespace portcullis::proxy
