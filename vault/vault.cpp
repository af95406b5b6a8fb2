#include "vault/vault.h"

#include <sodium.h>
#include <sys/stat.h>

#include <fstream>
#include <iterator>
#include <mutex>
#include <utility>

#include "common/common.h"

namespace portcullis::vault {
namespace {

namespace fs = std::filesystem;

// The key file holds the raw 32 key bytes, nothing else.
constexpr std::size_t kKeySize = crypto_secretbox_KEYBYTES;

void ensure_sodium() {
  static std::once_flag once;
  static bool ok = false;
  std::call_once(once, [] { ok = sodium_init() >= 0; });
  if (!ok) throw VaultError("cannot initialise libsodium");
}

std::string read_key_file(const fs::path& key_file) {
  struct stat info {};
  if (::stat(key_file.c_str(), &info) != 0) {
    throw VaultError("vault key file " + key_file.string() +
                     " is missing: run `portcullis init` to create it, or fix [vault] key_file");
  }
  if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    throw VaultError("vault key file " + key_file.string() +
                     " is accessible by group or others: run `chmod 600 " + key_file.string() + "`");
  }
  std::ifstream in(key_file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) throw VaultError("cannot read vault key file " + key_file.string());
  if (bytes.size() != kKeySize) {
    sodium_memzero(bytes.data(), bytes.size());
    throw VaultError("vault key file " + key_file.string() + " is damaged: expected " +
                     std::to_string(kKeySize) + " bytes");
  }
  return bytes;
}

}  // namespace

Secret::Secret(std::string value) : value_(std::move(value)) {}

Secret::Secret(Secret&& other) noexcept : value_(std::move(other.value_)) { other.wipe(); }

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    wipe();
    value_ = std::move(other.value_);
    other.wipe();
  }
  return *this;
}

Secret::~Secret() { wipe(); }

void Secret::wipe() noexcept {
  if (!value_.empty()) sodium_memzero(value_.data(), value_.size());
  value_.clear();
}

void create_key_file(const fs::path& key_file) {
  ensure_sodium();
  std::string key(kKeySize, '\0');
  randombytes_buf(key.data(), key.size());
  try {
    write_private_file(key_file, key);
  } catch (const std::runtime_error& e) {
    sodium_memzero(key.data(), key.size());
    throw VaultError(e.what());
  }
  sodium_memzero(key.data(), key.size());
}

Vault Vault::open(const fs::path& key_file) {
  ensure_sodium();
  std::string bytes = read_key_file(key_file);
  Vault vault;
  vault.key_ = static_cast<unsigned char*>(sodium_malloc(kKeySize));
  if (vault.key_ == nullptr) {
    sodium_memzero(bytes.data(), bytes.size());
    throw VaultError("cannot allocate protected memory for the vault key");
  }
  std::copy(bytes.begin(), bytes.end(), vault.key_);
  sodium_memzero(bytes.data(), bytes.size());
  sodium_mprotect_readonly(vault.key_);
  return vault;
}

Vault::Vault(Vault&& other) noexcept : key_(std::exchange(other.key_, nullptr)) {}

Vault& Vault::operator=(Vault&& other) noexcept {
  if (this != &other) {
    if (key_ != nullptr) sodium_free(key_);
    key_ = std::exchange(other.key_, nullptr);
  }
  return *this;
}

Vault::~Vault() {
  if (key_ != nullptr) sodium_free(key_);
}

namespace {

// Per-record box key: a blob sealed for one account does not open for another.
void derive_box_key(const unsigned char* vault_key, std::string_view context,
                    unsigned char (&box_key)[crypto_secretbox_KEYBYTES]) {
  crypto_generichash(box_key, sizeof box_key, reinterpret_cast<const unsigned char*>(context.data()),
                     context.size(), vault_key, kKeySize);
}

}  // namespace

std::vector<std::uint8_t> Vault::seal(std::string_view plaintext, std::string_view context) const {
  unsigned char box_key[crypto_secretbox_KEYBYTES];
  derive_box_key(key_, context, box_key);
  std::vector<std::uint8_t> sealed(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES +
                                   plaintext.size());
  randombytes_buf(sealed.data(), crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(sealed.data() + crypto_secretbox_NONCEBYTES,
                        reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(),
                        sealed.data(), box_key);
  sodium_memzero(box_key, sizeof box_key);
  return sealed;
}

Secret Vault::unseal(const std::vector<std::uint8_t>& sealed, std::string_view context) const {
  const std::string failed =
      "sealed secret for " + std::string(context) + " failed authentication";
  if (sealed.size() < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
    throw VaultError(failed);
  }
  unsigned char box_key[crypto_secretbox_KEYBYTES];
  derive_box_key(key_, context, box_key);
  std::string plaintext(sealed.size() - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES,
                        '\0');
  int rc = crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(plaintext.data()),
                                      sealed.data() + crypto_secretbox_NONCEBYTES,
                                      sealed.size() - crypto_secretbox_NONCEBYTES, sealed.data(),
                                      box_key);
  sodium_memzero(box_key, sizeof box_key);
  if (rc != 0) throw VaultError(failed);
  return Secret(std::move(plaintext));
}

}  // namespace portcullis::vault
