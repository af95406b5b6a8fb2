// The key file holds exactly the 32 raw key bytes (not hex): nothing to parse, and its size
// alone tells a damaged or wrong file apart. It must be a regular file of mode 0600 (or
// stricter); the vault refuses to open it otherwise, as OpenSSH does with private keys.
#include "vault/vault.h"

#include <sodium.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <system_error>
#include <utility>

#include "common/common.h"

namespace portcullis::vault {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kKeySize = crypto_secretbox_KEYBYTES;
constexpr std::size_t kOverhead = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES;

struct CloseFile {
  void operator()(std::FILE* file) const { std::fclose(file); }
};
using File = std::unique_ptr<std::FILE, CloseFile>;

struct SodiumFree {
  void operator()(unsigned char* memory) const { sodium_free(memory); }
};
using ProtectedKey = std::unique_ptr<unsigned char, SodiumFree>;

void ensure_sodium() {
  static std::once_flag once;
  static bool ready = false;
  std::call_once(once, [] { ready = sodium_init() >= 0; });
  if (!ready) throw VaultError("cannot initialise libsodium");
}

// Zeroes every byte the string owns, including what a move may have left past its size.
void wipe_string(std::string& text) noexcept {
  text.resize(text.capacity());
  sodium_memzero(text.data(), text.size());
  text.clear();
}

std::string describe_key_file(const fs::path& key_file) {
  return "vault key file " + key_file.string();
}

File open_key_file(const fs::path& key_file) {
  File file(std::fopen(key_file.c_str(), "rbe"));
  if (file) return file;
  const int error = errno;
  if (error == ENOENT) {
    throw VaultError(describe_key_file(key_file) +
                     " is missing: run `portcullis init` to create it, or point [vault] key_file "
                     "at the existing one");
  }
  const std::string advice = error == EACCES ? "; run as the user that owns it" : "";
  throw VaultError(describe_key_file(key_file) + " cannot be read: " + std::strerror(error) +
                   advice);
}

// Refuses files that others could have read or replaced, and files of the wrong size.
void check_key_file(const fs::path& key_file, std::FILE* file) {
  struct stat info {};
  if (::fstat(fileno(file), &info) != 0) {
    throw VaultError(describe_key_file(key_file) + " cannot be read: " + std::strerror(errno));
  }
  if (!S_ISREG(info.st_mode)) {
    throw VaultError(describe_key_file(key_file) + " is not a regular file");
  }
  if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
    throw VaultError(describe_key_file(key_file) + " has mode " + mode +
                     ", so group or others can use it: run `chmod 600 " + key_file.string() +
                     "` and consider the vault key exposed");
  }
  if (static_cast<std::size_t>(info.st_size) != kKeySize) {
    throw VaultError(describe_key_file(key_file) + " holds " + std::to_string(info.st_size) +
                     " bytes, not " + std::to_string(kKeySize) +
                     ": it is damaged or not a vault key; restore it from a backup (a new key "
                     "cannot open secrets sealed with the old one)");
  }
}

ProtectedKey read_key(const fs::path& key_file) {
  File file = open_key_file(key_file);
  check_key_file(key_file, file.get());
  // Unbuffered, so the key goes straight into locked memory and is never copied into stdio's.
  std::setvbuf(file.get(), nullptr, _IONBF, 0);
  ProtectedKey key(static_cast<unsigned char*>(sodium_malloc(kKeySize)));
  if (!key) throw VaultError("cannot allocate protected memory for the vault key");
  if (std::fread(key.get(), 1, kKeySize, file.get()) != kKeySize) {
    throw VaultError(describe_key_file(key_file) + " could not be read in full");
  }
  sodium_mprotect_readonly(key.get());
  return key;
}

// Per-record box key: a blob sealed for one context does not open for another.
struct BoxKey {
  unsigned char bytes[crypto_secretbox_KEYBYTES];

  BoxKey(const unsigned char* vault_key, std::string_view context) {
    if (vault_key == nullptr) throw VaultError("the vault was used after being moved from");
    crypto_generichash(bytes, sizeof bytes, reinterpret_cast<const unsigned char*>(context.data()),
                       context.size(), vault_key, kKeySize);
  }
  BoxKey(const BoxKey&) = delete;
  BoxKey& operator=(const BoxKey&) = delete;
  ~BoxKey() { sodium_memzero(bytes, sizeof bytes); }
};

}  // namespace

Secret::Secret(std::string value) : value_(std::move(value)) { wipe_string(value); }

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

void Secret::wipe() noexcept { wipe_string(value_); }

void create_key_file(const fs::path& key_file) {
  ensure_sodium();
  unsigned char key[kKeySize];
  randombytes_buf(key, sizeof key);
  try {
    write_private_file(key_file, std::string_view(reinterpret_cast<const char*>(key), sizeof key));
  } catch (const std::system_error& e) {
    sodium_memzero(key, sizeof key);
    if (e.code() == std::errc::file_exists) {
      throw VaultError(describe_key_file(key_file) +
                       " already exists: refusing to replace it, since the secrets sealed with "
                       "it could no longer be opened");
    }
    throw VaultError(e.what());
  }
  sodium_memzero(key, sizeof key);
}

Vault Vault::open(const fs::path& key_file) {
  ensure_sodium();
  Vault vault;
  vault.key_ = read_key(key_file).release();
  return vault;
}

Vault::Vault(Vault&& other) noexcept : key_(std::exchange(other.key_, nullptr)) {}

Vault& Vault::operator=(Vault&& other) noexcept {
  if (this != &other) {
    sodium_free(key_);
    key_ = std::exchange(other.key_, nullptr);
  }
  return *this;
}

Vault::~Vault() { sodium_free(key_); }

std::vector<std::uint8_t> Vault::seal(std::string_view plaintext, std::string_view context) const {
  const BoxKey box_key(key_, context);
  std::vector<std::uint8_t> sealed(kOverhead + plaintext.size());
  unsigned char* nonce = sealed.data();
  randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(nonce + crypto_secretbox_NONCEBYTES,
                        reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(),
                        nonce, box_key.bytes);
  return sealed;
}

Secret Vault::unseal(const std::vector<std::uint8_t>& sealed, std::string_view context) const {
  const std::string failed = "sealed secret for " + std::string(context) + " failed authentication";
  if (sealed.size() < kOverhead) throw VaultError(failed);
  const BoxKey box_key(key_, context);
  const unsigned char* nonce = sealed.data();
  std::string plaintext(sealed.size() - kOverhead, '\0');
  const int opened = crypto_secretbox_open_easy(
      reinterpret_cast<unsigned char*>(plaintext.data()), nonce + crypto_secretbox_NONCEBYTES,
      sealed.size() - crypto_secretbox_NONCEBYTES, nonce, box_key.bytes);
  if (opened != 0) {
    wipe_string(plaintext);
    throw VaultError(failed);
  }
  Secret secret(std::move(plaintext));
  wipe_string(plaintext);
  return secret;
}

}  // namespace portcullis::vault
