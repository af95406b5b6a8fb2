#include <libssh/libssh.h>

#include <memory>
#include <sstream>

#include "access/queries.h"

namespace portcullis::access {
namespace {

struct KeyDeleter {
  void operator()(ssh_key key) const { ssh_key_free(key); }
};
using Key = std::unique_ptr<ssh_key_struct, KeyDeleter>;

struct CharDeleter {
  void operator()(char* text) const { ssh_string_free_char(text); }
};
using SshText = std::unique_ptr<char, CharDeleter>;

struct HashDeleter {
  void operator()(unsigned char* hash) const { ssh_clean_pubkey_hash(&hash); }
};
using Hash = std::unique_ptr<unsigned char, HashDeleter>;

Key import_public_key(const std::string& line, std::string_view what) {
  std::istringstream fields(line);
  std::string type, base64;
  fields >> type >> base64;
  enum ssh_keytypes_e declared = ssh_key_type_from_name(type.c_str());
  ssh_key key = nullptr;
  if (declared == SSH_KEYTYPE_UNKNOWN ||
      ssh_pki_import_pubkey_base64(base64.c_str(), declared, &key) != SSH_OK) {
    throw AccessError(std::string(what) +
                      " is not an OpenSSH public key (expected a line like 'ssh-ed25519 AAAA...')");
  }
  return Key(key);
}

std::string fingerprint_of(ssh_key key) {
  unsigned char* raw = nullptr;
  size_t length = 0;
  if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &raw, &length) != SSH_OK) {
    throw AccessError("cannot compute the fingerprint of a public key");
  }
  Hash hash(raw);
  SshText text(ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash.get(), length));
  if (!text) throw AccessError("cannot compute the fingerprint of a public key");
  return text.get();
}

}  // namespace

namespace detail {

ParsedPublicKey parse_public_key(const std::string& line, std::string_view what) {
  Key key = import_public_key(line, what);
  char* raw = nullptr;
  if (ssh_pki_export_pubkey_base64(key.get(), &raw) != SSH_OK) {
    throw AccessError(std::string(what) + " cannot be encoded as an OpenSSH public key");
  }
  SshText base64(raw);
  const char* type = ssh_key_type_to_char(ssh_key_type(key.get()));
  return {std::string(type) + " " + base64.get(), fingerprint_of(key.get())};
}

}  // namespace detail

std::string public_key_fingerprint(const std::string& openssh_line) {
  return fingerprint_of(import_public_key(openssh_line, "the key").get());
}

}  // namespace portcullis::access
