// The node's Ed25519 signing key and the public-key line auditors use to verify elsewhere.
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <utility>

#include "common/common.h"
#include "recorder/internal.h"
#include "recorder/keys.h"

namespace portcullis::recorder {
namespace {

constexpr std::string_view kKeyType = "portcullis-ed25519";

void init_sodium() {
  if (sodium_init() < 0) throw RecordingError("cannot initialise libsodium");
}

std::string base64(const unsigned char* bytes, std::size_t size, int variant) {
  std::string text(sodium_base64_encoded_len(size, variant), '\0');
  sodium_bin2base64(text.data(), text.size(), bytes, size, variant);
  text.resize(std::strlen(text.c_str()));
  return text;
}

}  // namespace

namespace {

// Refuses a key file others could have read or replaced, as the vault does for vault.key.
void check_key_file(const std::filesystem::path& file, int fd) {
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    throw RecordingError("cannot read signing key " + file.string() + ": " + std::strerror(errno));
  }
  if (!S_ISREG(info.st_mode)) {
    throw RecordingError("signing key " + file.string() + " is not a regular file");
  }
  if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
    throw RecordingError("signing key " + file.string() + " has mode " + mode +
                         ", so group or others can use it: run `chmod 600 " + file.string() +
                         "` and consider the key exposed (recordings it signs could be forged)");
  }
  if (info.st_uid != ::geteuid()) {
    throw RecordingError("signing key " + file.string() + " is owned by uid " +
                         std::to_string(info.st_uid) + ", not by this user (uid " +
                         std::to_string(::geteuid()) +
                         "): run `chown` to give it to the user "
                         "portcullisd runs as");
  }
}

}  // namespace

SigningKey SigningKey::load(const std::filesystem::path& file) {
  const UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    throw RecordingError("cannot read signing key " + file.string() + ": " + std::strerror(errno));
  }
  check_key_file(file, fd.get());
  // Read at most one byte more than a key, so a wrong file is refused without reading it all;
  // straight into protected memory, so the secret has no copy elsewhere.
  init_sodium();
  auto* bytes = static_cast<unsigned char*>(sodium_malloc(crypto_sign_SECRETKEYBYTES + 1));
  if (bytes == nullptr)
    throw RecordingError("cannot allocate protected memory for the signing key");
  const std::unique_ptr<unsigned char, void (*)(void*)> guard(bytes, sodium_free);
  std::size_t size = 0;
  while (size < crypto_sign_SECRETKEYBYTES + 1) {
    const ssize_t n = ::read(fd.get(), bytes + size, crypto_sign_SECRETKEYBYTES + 1 - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      throw RecordingError("cannot read signing key " + file.string() + ": " +
                           std::strerror(errno));
    }
    if (n == 0) break;
    size += static_cast<std::size_t>(n);
  }
  try {
    return from_bytes(std::string_view(reinterpret_cast<const char*>(bytes), size));
  } catch (const RecordingError& e) {
    throw RecordingError("signing key " + file.string() + ": " + e.what());
  }
}

SigningKey::SigningKey() {
  init_sodium();
  secret_ = static_cast<unsigned char*>(sodium_malloc(crypto_sign_SECRETKEYBYTES));
  if (secret_ == nullptr) {
    throw RecordingError("cannot allocate protected memory for the signing key");
  }
}

SigningKey SigningKey::from_bytes(std::string_view secret_key) {
  init_sodium();
  if (secret_key.size() != crypto_sign_SECRETKEYBYTES) {
    throw RecordingError("not a 64-byte Ed25519 secret key (run `portcullis init` to create one)");
  }
  SigningKey key;
  std::memcpy(key.secret_, secret_key.data(), crypto_sign_SECRETKEYBYTES);
  // The file holds seed || public key: check the halves belong together.
  std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> derived{};
  crypto_sign_ed25519_sk_to_pk(derived.data(), key.secret_);
  std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> check{};
  std::array<unsigned char, crypto_sign_SECRETKEYBYTES> scratch{};
  crypto_sign_seed_keypair(check.data(), scratch.data(), key.secret_);
  sodium_memzero(scratch.data(), scratch.size());
  if (check != derived) throw RecordingError("the public half does not match the secret key");
  return key;
}

SigningKey::SigningKey(const SigningKey& other) : SigningKey() {
  std::memcpy(secret_, other.secret_, crypto_sign_SECRETKEYBYTES);
}

SigningKey& SigningKey::operator=(const SigningKey& other) {
  SigningKey copy(other);
  std::swap(secret_, copy.secret_);
  return *this;
}

SigningKey::SigningKey(SigningKey&& other) noexcept
    : secret_(std::exchange(other.secret_, nullptr)) {}

SigningKey& SigningKey::operator=(SigningKey&& other) noexcept {
  if (this != &other) {
    sodium_free(secret_);
    secret_ = std::exchange(other.secret_, nullptr);
  }
  return *this;
}

// sodium_free wipes the memory before it releases it.
SigningKey::~SigningKey() { sodium_free(secret_); }

PublicKey SigningKey::public_key() const {
  PublicKey key{};
  crypto_sign_ed25519_sk_to_pk(key.data(), secret_);
  return key;
}

std::string SigningKey::fingerprint() const { return recorder::fingerprint(public_key()); }

Signature SigningKey::sign(std::string_view message) const {
  Signature signature{};
  crypto_sign_detached(signature.data(), nullptr,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       secret_);
  return signature;
}

std::string fingerprint(const PublicKey& key) {
  init_sodium();
  const Hash hash =
      detail::sha256(std::string_view(reinterpret_cast<const char*>(key.data()), key.size()));
  return "SHA256:" + base64(hash.data(), hash.size(), sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
}

std::string public_key_line(const PublicKey& key, const std::string& node) {
  init_sodium();
  return std::string(kKeyType) + " " +
         base64(key.data(), key.size(), sodium_base64_VARIANT_ORIGINAL) + " " + node;
}

PublicKey parse_public_key_line(std::string_view line) {
  init_sodium();
  const auto start = line.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos || line.substr(start, kKeyType.size()) != kKeyType) {
    throw RecordingError("not a public key line: expected \"" + std::string(kKeyType) +
                         " <base64> <node>\" as `portcullis node pubkey` prints it");
  }
  std::string_view rest = line.substr(start + kKeyType.size());
  const auto b64_start = rest.find_first_not_of(" \t");
  if (b64_start == std::string_view::npos || b64_start == 0) {
    throw RecordingError("public key line has no key after \"" + std::string(kKeyType) + "\"");
  }
  rest = rest.substr(b64_start);
  const std::string_view b64 = rest.substr(0, rest.find_first_of(" \t\r\n"));
  PublicKey key{};
  std::size_t decoded = 0;
  const char* end = nullptr;
  if (sodium_base642bin(key.data(), key.size(), b64.data(), b64.size(), nullptr, &decoded, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      decoded != key.size() || end != b64.data() + b64.size()) {
    throw RecordingError("public key line: the key is not 32 bytes of base64");
  }
  return key;
}

}  // namespace portcullis::recorder
