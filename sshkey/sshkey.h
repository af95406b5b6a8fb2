// SSH keys through libssh: owning handles for what libssh hands back, public keys parsed from
// OpenSSH's one-line form, private keys, and fingerprints as ssh-keygen prints them. The one
// place that does this: access (users' and targets' keys), proxy (login and pinned host keys)
// and cli (host key files) all go through it.
#pragma once

#include <libssh/libssh.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::sshkey {

struct KeyDeleter {
  void operator()(ssh_key key) const;
};
// A public or private key libssh allocated; freed with ssh_key_free.
using Key = std::unique_ptr<ssh_key_struct, KeyDeleter>;

struct TextDeleter {
  void operator()(char* text) const;
};
// Text libssh allocated (base64 exports, fingerprints); freed with ssh_string_free_char.
using Text = std::unique_ptr<char, TextDeleter>;

// "ssh-ed25519 AAAA... comment" (an authorized_keys line without options) -> the key, or null
// when the line is not a public key libssh understands.
Key parse_public_key(std::string_view openssh_line);

// The key as "type base64": its OpenSSH line without a comment. Nullopt when libssh cannot
// encode it.
std::optional<std::string> public_key_line(ssh_key key);

// "SHA256:..." as ssh-keygen -l prints it. Nullopt when libssh cannot hash the key.
std::optional<std::string> fingerprint(ssh_key key);
// The same for a message or a log line: a key libssh cannot hash is still worth naming as such,
// "(unknown)".
std::string shown_fingerprint(ssh_key key);

// True when `key`'s public half is one of the OpenSSH lines in `allowed` (a line that does
// not parse matches nothing).
bool is_listed(ssh_key key, const std::vector<std::string>& allowed);

// The key lines of an authorized_keys-style text, leading blanks trimmed; blank lines and
// # comments are skipped.
std::vector<std::string> key_lines(std::string_view text);

// An unencrypted private key in OpenSSH (or PEM) text; null when `text` is not one, which
// includes a key that needs a passphrase.
Key import_private_key(const std::string& text);
// The same, read from a file.
Key load_private_key_file(const std::filesystem::path& path);

// A new Ed25519 key pair; null when libssh cannot make one.
Key generate_ed25519();
// The private key in OpenSSH's unencrypted text format, kept in libssh's buffer rather than
// copied; null when libssh cannot encode it.
Text private_key_text(ssh_key key);

}  // namespace portcullis::sshkey
