// The node's signing key and the public keys that verify its recordings: the key files and
// their one-line text form. Reading side: verifying needs only the public half.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "recorder/format.h"

namespace portcullis::recorder {

// The node's Ed25519 signing key: the raw 64-byte libsodium secret key file that
// `portcullis init` creates. The secret lives in sodium_malloc memory (guard pages, mlocked,
// never swapped) and is wiped when the object dies.
class SigningKey {
 public:
  // Throws RecordingError when the file cannot be read, is not a regular file of mode 0600 (or
  // stricter) owned by this process's user, or is not 64 bytes with a matching public half.
  static SigningKey load(const std::filesystem::path& file);
  // From the 64 raw bytes (seed || public key); throws RecordingError when they do not match.
  static SigningKey from_bytes(std::string_view secret_key);
  SigningKey(const SigningKey& other);
  SigningKey& operator=(const SigningKey& other);
  SigningKey(SigningKey&& other) noexcept;
  SigningKey& operator=(SigningKey&& other) noexcept;
  ~SigningKey();

  PublicKey public_key() const;
  std::string fingerprint() const;  // "SHA256:<base64, no padding>", as OpenSSH prints
  Signature sign(std::string_view message) const;

 private:
  SigningKey();                      // allocates the protected memory
  unsigned char* secret_ = nullptr;  // sodium_malloc'd, 64 bytes
};

// "SHA256:" + base64 (no padding) of SHA-256 of the 32-byte key.
std::string fingerprint(const PublicKey& key);
// "portcullis-ed25519 <base64 of the 32-byte key> <node>", what `portcullis node pubkey` prints.
std::string public_key_line(const PublicKey& key, const std::string& node);
// Parses public_key_line's format (node name optional); throws RecordingError.
PublicKey parse_public_key_line(std::string_view line);

// The public key file beside a signing key: "<signing key>.pub", one public_key_line.
std::filesystem::path public_key_file(const std::filesystem::path& signing_key);
// The node's public key from that file. An install older than the file has none: then it is
// derived from the secret key (when this user can read it) and the file is written (0644), so
// later readers need no secret. Throws RecordingError when neither can be read.
PublicKey load_public_key(const std::filesystem::path& signing_key, const std::string& node);

}  // namespace portcullis::recorder
