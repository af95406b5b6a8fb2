// Public interface of the `vault` library: credentials sealed at rest with libsodium
// secretbox (XSalsa20-Poly1305) under a 32-byte key kept in a 0600 key file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::vault {

// Never carries secret material in its message.
class VaultError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A plaintext secret held in memory that is wiped (sodium_memzero) on destruction.
// Not copyable, so it cannot be duplicated by accident; never streamed or formatted.
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value);
  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  ~Secret();

  const std::string& reveal() const { return value_; }
  bool empty() const { return value_.empty(); }

 private:
  void wipe() noexcept;
  std::string value_;
};

// Creates a new random key file (mode 0600). Throws VaultError if it exists or on I/O error.
void create_key_file(const std::filesystem::path& key_file);

class Vault {
 public:
  // Reads the key file. Throws VaultError with a clear message when the file is missing,
  // unreadable, has the wrong size or is readable by group/others.
  static Vault open(const std::filesystem::path& key_file);

  Vault(const Vault&) = delete;
  Vault& operator=(const Vault&) = delete;
  Vault(Vault&&) noexcept;
  Vault& operator=(Vault&&) noexcept;
  ~Vault();

  // nonce || secretbox(ciphertext). The box key is derived from the vault key and
  // `context` (e.g. "account:db01:postgres") with keyed BLAKE2b, so a sealed blob
  // copied to another record does not open.
  std::vector<std::uint8_t> seal(std::string_view plaintext, std::string_view context) const;
  // Throws VaultError("sealed secret for CONTEXT failed authentication") on tampering.
  Secret unseal(const std::vector<std::uint8_t>& sealed, std::string_view context) const;

 private:
  Vault() = default;
  unsigned char* key_ = nullptr;  // sodium_malloc'd, 32 bytes, mlocked
};

}  // namespace portcullis::vault
