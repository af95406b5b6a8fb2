#include "sshkey/sshkey.h"

#include <sstream>

namespace portcullis::sshkey {
namespace {

// The raw digest ssh_get_publickey_hash returns, freed with ssh_clean_pubkey_hash.
struct HashDeleter {
  void operator()(unsigned char* hash) const { ssh_clean_pubkey_hash(&hash); }
};
using Hash = std::unique_ptr<unsigned char, HashDeleter>;

}  // namespace

void KeyDeleter::operator()(ssh_key key) const { ssh_key_free(key); }

void TextDeleter::operator()(char* text) const { ssh_string_free_char(text); }

Key parse_public_key(std::string_view openssh_line) {
  std::istringstream fields{std::string(openssh_line)};
  std::string type, base64;
  fields >> type >> base64;
  const enum ssh_keytypes_e declared = ssh_key_type_from_name(type.c_str());
  ssh_key key = nullptr;
  if (declared == SSH_KEYTYPE_UNKNOWN ||
      ssh_pki_import_pubkey_base64(base64.c_str(), declared, &key) != SSH_OK) {
    return nullptr;
  }
  return Key(key);
}

std::optional<std::string> public_key_line(ssh_key key) {
  char* raw = nullptr;
  if (ssh_pki_export_pubkey_base64(key, &raw) != SSH_OK) return std::nullopt;
  const Text base64(raw);
  return std::string(ssh_key_type_to_char(ssh_key_type(key))) + " " + base64.get();
}

std::optional<std::string> fingerprint(ssh_key key) {
  unsigned char* raw = nullptr;
  size_t length = 0;
  if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &raw, &length) != SSH_OK) {
    return std::nullopt;
  }
  const Hash hash(raw);
  const Text text(ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash.get(), length));
  if (!text) return std::nullopt;
  return std::string(text.get());
}

std::string shown_fingerprint(ssh_key key) { return fingerprint(key).value_or("(unknown)"); }

bool is_listed(ssh_key key, const std::vector<std::string>& allowed) {
  for (const std::string& line : allowed) {
    const Key candidate = parse_public_key(line);
    if (candidate && ssh_key_cmp(candidate.get(), key, SSH_KEY_CMP_PUBLIC) == 0) return true;
  }
  return false;
}

std::vector<std::string> key_lines(std::string_view text) {
  std::istringstream lines{std::string(text)};
  std::vector<std::string> keys;
  for (std::string line; std::getline(lines, line);) {
    const auto start = line.find_first_not_of(" \t\r");
    if (start == std::string::npos || line[start] == '#') continue;
    keys.push_back(line.substr(start));
  }
  return keys;
}

Key import_private_key(const std::string& text) {
  ssh_key key = nullptr;
  if (ssh_pki_import_privkey_base64(text.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK) {
    return nullptr;
  }
  return Key(key);
}

Key load_private_key_file(const std::filesystem::path& path) {
  ssh_key key = nullptr;
  if (ssh_pki_import_privkey_file(path.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK) {
    return nullptr;
  }
  return Key(key);
}

Key generate_ed25519() {
  ssh_key key = nullptr;
  if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK) return nullptr;
  return Key(key);
}

Text private_key_text(ssh_key key) {
  char* text = nullptr;
  if (ssh_pki_export_privkey_base64(key, nullptr, nullptr, nullptr, &text) != SSH_OK) {
    return nullptr;
  }
  return Text(text);
}

}  // namespace portcullis::sshkey
