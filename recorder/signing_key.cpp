// The node's Ed25519 signing key and the public-key line auditors use to verify elsewhere.
#include <sodium.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "recorder/internal.h"

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

SigningKey SigningKey::load(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw RecordingError("cannot read signing key " + file.string() + ": " + std::strerror(errno));
  }
  // Read at most one byte more than a key, so a wrong file is refused without reading it all.
  std::string bytes(crypto_sign_SECRETKEYBYTES + 1, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  bytes.resize(static_cast<std::size_t>(in.gcount()));
  try {
    SigningKey key = from_bytes(bytes);
    sodium_memzero(bytes.data(), bytes.size());
    return key;
  } catch (const RecordingError& e) {
    sodium_memzero(bytes.data(), bytes.size());
    throw RecordingError("signing key " + file.string() + ": " + e.what());
  }
}

SigningKey SigningKey::from_bytes(std::string_view secret_key) {
  init_sodium();
  if (secret_key.size() != crypto_sign_SECRETKEYBYTES) {
    throw RecordingError("not a 64-byte Ed25519 secret key (run `portcullis init` to create one)");
  }
  SigningKey key;
  std::memcpy(key.secret_.data(), secret_key.data(), key.secret_.size());
  // The file holds seed || public key: check the halves belong together.
  std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> derived{};
  crypto_sign_ed25519_sk_to_pk(derived.data(), key.secret_.data());
  std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> check{};
  std::array<unsigned char, crypto_sign_SECRETKEYBYTES> scratch{};
  crypto_sign_seed_keypair(check.data(), scratch.data(), key.secret_.data());
  sodium_memzero(scratch.data(), scratch.size());
  if (check != derived) throw RecordingError("the public half does not match the secret key");
  return key;
}

SigningKey::SigningKey(const SigningKey& other) : secret_(other.secret_) {}

SigningKey& SigningKey::operator=(const SigningKey& other) {
  secret_ = other.secret_;
  return *this;
}

SigningKey::~SigningKey() { sodium_memzero(secret_.data(), secret_.size()); }

PublicKey SigningKey::public_key() const {
  PublicKey key{};
  crypto_sign_ed25519_sk_to_pk(key.data(), secret_.data());
  return key;
}

std::string SigningKey::fingerprint() const { return recorder::fingerprint(public_key()); }

Signature SigningKey::sign(std::string_view message) const {
  Signature signature{};
  crypto_sign_detached(signature.data(), nullptr,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       secret_.data());
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
