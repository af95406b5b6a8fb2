#include "proxy/ssh_keys.h"

#include <sstream>

namespace portcullis::proxy {

SshKey parse_public_key(const std::string& openssh_line) {
  std::istringstream fields(openssh_line);
  std::string type, base64;
  fields >> type >> base64;
  ssh_key key = nullptr;
  if (ssh_pki_import_pubkey_base64(base64.c_str(), ssh_key_type_from_name(type.c_str()), &key) !=
      SSH_OK) {
    return nullptr;
  }
  return SshKey(key);
}

std::string fingerprint(ssh_key key) {
  unsigned char* hash = nullptr;
  size_t length = 0;
  if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &length) != SSH_OK) {
    return "(unknown)";
  }
  char* text = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, length);
  ssh_clean_pubkey_hash(&hash);
  std::string result = text != nullptr ? text : "(unknown)";
  ssh_string_free_char(text);
  return result;
}

bool key_is_listed(ssh_key key, const std::vector<std::string>& allowed) {
  for (const std::string& line : allowed) {
    SshKey candidate = parse_public_key(line);
    if (candidate && ssh_key_cmp(candidate.get(), key, SSH_KEY_CMP_PUBLIC) == 0) return true;
  }
  return false;
}

}  // namespace portcullis::proxy
