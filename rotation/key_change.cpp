// A key account: a new Ed25519 key is added to the account's authorized_keys file through the
// vaulted key, a login with the new key is verified, and only then is the old key's line
// removed (through the new key's own login).
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "rotation/authorized_keys.h"
#include "rotation/credential_change.h"
#include "rotation/remote.h"
#include "sshkey/sshkey.h"

namespace portcullis::rotation {
namespace {

std::string public_line_of(ssh_key key) {
  std::optional<std::string> line = sshkey::public_key_line(key);
  if (!line) throw RemoteError("libssh cannot encode the public key");
  return *line;
}

// The new key and its authorized_keys line; the comment says who put it there.
struct NewKey {
  sshkey::Key key;
  targetssh::Credential credential;
  std::string line;
};

NewKey generate_key(const access::RotationClaim& claim) {
  NewKey fresh;
  fresh.key = sshkey::generate_ed25519();
  if (!fresh.key) throw RemoteError("libssh cannot generate an Ed25519 key");
  sshkey::Text text = sshkey::private_key_text(fresh.key.get());
  if (!text) throw RemoteError("libssh cannot encode the new private key");
  fresh.credential.kind = access::CredentialKind::key;
  fresh.credential.secret = vault::Secret(std::string(text.get()));
  fresh.line = public_line_of(fresh.key.get()) + " portcullis:" + claim.target.name + ":" +
               claim.account.login;
  return fresh;
}

// Takes the new key out again, after a failure before it was verified.
void undo_add(const Change& change, const TargetLogin& current, const std::string& new_line) {
  const std::string& path = change.claim.settings.authorized_keys;
  try {
    const std::string text = read_remote_file(current.get(), path, change.timeout);
    if (authorizes(text, new_line)) {
      replace_remote_file(current.get(), path, without_key(text, new_line), change.timeout);
    }
  } catch (const std::exception& e) {
    spdlog::warn("rotation of {}@{}: the unverified new key stays in {}: {}",
                 change.claim.account.login, change.claim.target.name, path, e.what());
  }
}

// Removes the old key through the verified login. A reply lost after the file was replaced
// is no failure: the file is read again to tell.
void remove_old_key(const Change& change, const TargetLogin& verified,
                    const std::string& old_line) {
  const std::string& path = change.claim.settings.authorized_keys;
  try {
    const std::string text = read_remote_file(verified.get(), path, change.timeout);
    replace_remote_file(verified.get(), path, without_key(text, old_line), change.timeout);
  } catch (const RemoteError& e) {
    if (authorizes(read_remote_file(verified.get(), path, change.timeout), old_line)) {
      throw RemoteError(std::string("the new key logs in, but the old key's line could not be "
                                    "removed, so the vault keeps the old key: ") +
                        e.what());
    }
  }
}

}  // namespace

Changed change_key(const Change& change) {
  const access::RotationClaim& claim = change.claim;
  const std::string& path = claim.settings.authorized_keys;
  const targetssh::Credential current = targetssh::vaulted_credential(claim.account, change.vault);
  const sshkey::Key current_key = sshkey::import_private_key(current.secret.reveal());
  if (!current_key) throw RemoteError("the vaulted key cannot be read");
  const std::string old_line = public_line_of(current_key.get());
  NewKey fresh = generate_key(claim);
  std::vector<std::uint8_t> sealed = seal_pending(change, fresh.credential.secret);

  TargetLogin login(change, current);
  const std::string before = read_remote_file(login.get(), path, change.timeout);
  // Otherwise sshd reads the key from another file, which rotation would never clean.
  if (!authorizes(before, old_line)) {
    throw RemoteError(path + " on target " + claim.target.name +
                      " does not hold the vaulted key (" +
                      sshkey::shown_fingerprint(current_key.get()) +
                      "); name the file sshd reads with `portcullis account add ... "
                      "--authorized-keys PATH`");
  }
  replace_remote_file(login.get(), path, with_key_added(before, fresh.line), change.timeout);
  std::optional<TargetLogin> verified;
  try {
    verified.emplace(change, fresh.credential);
  } catch (...) {
    undo_add(change, login, fresh.line);
    throw;
  }
  remove_old_key(change, *verified, old_line);

  const std::string old_fingerprint = sshkey::shown_fingerprint(current_key.get());
  const std::string new_fingerprint = sshkey::shown_fingerprint(fresh.key.get());
  return Changed{std::move(sealed),
                 nlohmann::json{{"kind", "key"},
                                {"old_fingerprint", old_fingerprint},
                                {"new_fingerprint", new_fingerprint},
                                {"authorized_keys", path}}
                     .dump(),
                 "key " + old_fingerprint + " replaced by " + new_fingerprint + " in " + path};
}

}  // namespace portcullis::rotation
