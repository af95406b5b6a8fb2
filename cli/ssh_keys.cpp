#include "cli/ssh_keys.h"

#include <libssh/libssh.h>

#include <fstream>
#include <memory>
#include <optional>
#include <utility>

#include "cli/cli.h"
#include "sshkey/sshkey.h"

namespace portcullis::cli {
namespace {

struct SessionDeleter {
  void operator()(ssh_session session) const {
    ssh_disconnect(session);
    ssh_free(session);
  }
};
using Session = std::unique_ptr<ssh_session_struct, SessionDeleter>;

// Host key types in the order we would rather pin them.
const char* const kPreferredHostKeys =
    "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512,"
    "rsa-sha2-256";

std::string public_line(ssh_key key) {
  std::optional<std::string> line = sshkey::public_key_line(key);
  if (!line) throw std::runtime_error("cannot encode a public key");
  return *std::move(line);
}

void set_option(ssh_session session, ssh_options_e option, const void* value) {
  if (ssh_options_set(session, option, value) != SSH_OK) {
    throw std::runtime_error(std::string("cannot set an ssh option: ") + ssh_get_error(session));
  }
}

}  // namespace

std::string create_host_key(const std::filesystem::path& path) {
  const sshkey::Key key = sshkey::generate_ed25519();
  if (!key) throw std::runtime_error("cannot generate an Ed25519 host key");
  const sshkey::Text private_text = sshkey::private_key_text(key.get());
  if (!private_text) throw std::runtime_error("cannot encode the new host key");
  // Written by us rather than ssh_pki_export_privkey_file so the file is 0600 from birth.
  write_private_file(path, private_text.get());
  const std::string public_key = public_line(key.get());
  std::ofstream(path.string() + ".pub") << public_key << '\n';
  return public_key;
}

std::vector<std::string> read_public_keys(const std::string& path) {
  std::vector<std::string> keys = sshkey::key_lines(read_file(path, "public key file"));
  if (keys.empty()) throw UsageError("public key file " + path + " holds no key");
  return keys;
}

void check_private_key(const std::string& contents, const std::string& path) {
  if (!sshkey::import_private_key(contents)) {
    throw UsageError("key file " + path +
                     " is not an unencrypted private key (passphrase-protected keys cannot be "
                     "vaulted; remove the passphrase with ssh-keygen -p)");
  }
}

std::string scan_host_key(const std::string& host, std::uint16_t port,
                          std::chrono::seconds timeout) {
  Session session(ssh_new());
  if (!session) throw std::runtime_error("cannot create an ssh session");
  const int no = 0;
  const unsigned int port_number = port;
  const long seconds = timeout.count();
  // Only the server's key matters here: no ~/.ssh/config, no known_hosts reordering.
  set_option(session.get(), SSH_OPTIONS_PROCESS_CONFIG, &no);
  set_option(session.get(), SSH_OPTIONS_HOST, host.c_str());
  set_option(session.get(), SSH_OPTIONS_PORT, &port_number);
  set_option(session.get(), SSH_OPTIONS_TIMEOUT, &seconds);
  set_option(session.get(), SSH_OPTIONS_KNOWNHOSTS, "/dev/null");
  set_option(session.get(), SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null");
  set_option(session.get(), SSH_OPTIONS_HOSTKEYS, kPreferredHostKeys);
  if (ssh_connect(session.get()) != SSH_OK) {
    throw UsageError("cannot scan the host key of " + host + ":" + std::to_string(port) + ": " +
                     ssh_get_error(session.get()));
  }
  ssh_key raw = nullptr;
  if (ssh_get_server_publickey(session.get(), &raw) != SSH_OK) {
    throw UsageError("the server at " + host + ":" + std::to_string(port) + " sent no host key");
  }
  const sshkey::Key key(raw);
  return public_line(key.get());
}

}  // namespace portcullis::cli
