#include "sshkey/certificate.h"

#include <sodium.h>

#include <stdexcept>

#include "sshkey/sshkey.h"
#include "sshkey/wire.h"

namespace portcullis::sshkey {
namespace {

constexpr std::string_view kEd25519 = "ssh-ed25519";
constexpr std::string_view kEd25519Certificate = "ssh-ed25519-cert-v01@openssh.com";
constexpr std::string_view kCertificateSuffix = "-cert-v01@openssh.com";
constexpr std::size_t kNonceSize = 32;

void init_sodium() {
  if (sodium_init() < 0) throw std::runtime_error("cannot initialise libsodium");
}

std::string to_base64(std::string_view bytes) {
  std::string text(sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(text.data(), text.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  text.resize(text.find('\0'));
  return text;
}

std::optional<std::string> from_base64(std::string_view text) {
  std::string bytes(text.size(), '\0');
  std::size_t length = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(bytes.data()), bytes.size(), text.data(),
                        text.size(), nullptr, &length, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0) {
    return std::nullopt;
  }
  bytes.resize(length);
  return bytes;
}

std::string ed25519_blob(std::string_view public_key) {
  wire::Writer blob;
  blob.string(kEd25519);
  blob.string(public_key);
  return blob.bytes();
}

// The 32-byte key of an Ed25519 public key blob; nullopt for any other blob.
std::optional<std::string_view> ed25519_key(std::string_view blob) {
  wire::Reader reader(blob);
  const auto type = reader.string();
  const auto key = reader.string();
  if (!type || *type != kEd25519 || !key || key->size() != crypto_sign_PUBLICKEYBYTES ||
      !reader.at_end()) {
    return std::nullopt;
  }
  return key;
}

// Packed lists: a string of strings, and a string of (name, string) pairs whose data is itself
// a string (PROTOCOL.certkeys); std::map and std::set keep names in the required order.
std::string packed_principals(const std::vector<std::string>& principals) {
  wire::Writer packed;
  for (const std::string& principal : principals) packed.string(principal);
  return packed.bytes();
}

std::string packed_options(const std::map<std::string, std::string>& options) {
  wire::Writer packed;
  for (const auto& [name, value] : options) {
    packed.string(name);
    wire::Writer data;
    data.string(value);
    packed.string(data.bytes());
  }
  return packed.bytes();
}

std::string packed_extensions(const std::set<std::string>& extensions) {
  wire::Writer packed;
  for (const std::string& name : extensions) {
    packed.string(name);
    packed.string("");
  }
  return packed.bytes();
}

// How many key fields follow the nonce for each certificate type this code reads.
std::optional<int> key_field_count(std::string_view key_type) {
  if (key_type == kEd25519Certificate) return 1;  // pk
  if (key_type.starts_with("ecdsa-sha2-nistp") && key_type.ends_with(kCertificateSuffix)) {
    return 2;  // curve, Q
  }
  if (key_type == "ssh-rsa-cert-v01@openssh.com") return 2;  // e, n
  return std::nullopt;
}

std::optional<std::vector<std::string>> unpack_principals(std::string_view packed) {
  std::vector<std::string> principals;
  wire::Reader reader(packed);
  while (!reader.at_end()) {
    const auto principal = reader.string();
    if (!principal) return std::nullopt;
    principals.emplace_back(*principal);
  }
  return principals;
}

// Options keep their data as given; an option whose data is not a string is malformed.
std::optional<std::map<std::string, std::string>> unpack_options(std::string_view packed) {
  std::map<std::string, std::string> options;
  wire::Reader reader(packed);
  while (!reader.at_end()) {
    const auto name = reader.string();
    const auto data = reader.string();
    if (!name || !data) return std::nullopt;
    std::string value;
    if (!data->empty()) {
      wire::Reader inner(*data);
      const auto text = inner.string();
      if (!text || !inner.at_end()) return std::nullopt;
      value = *text;
    }
    if (!options.emplace(*name, value).second) return std::nullopt;  // a name twice
  }
  return options;
}

bool signature_holds(std::string_view signed_part, std::string_view ca_blob,
                     std::string_view signature_blob) {
  const std::optional<std::string_view> ca_key = ed25519_key(ca_blob);
  if (!ca_key) return false;
  wire::Reader reader(signature_blob);
  const auto algorithm = reader.string();
  const auto signature = reader.string();
  if (!algorithm || *algorithm != kEd25519 || !signature ||
      signature->size() != crypto_sign_BYTES || !reader.at_end()) {
    return false;
  }
  init_sodium();
  return crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(signature->data()),
                                     reinterpret_cast<const unsigned char*>(signed_part.data()),
                                     signed_part.size(),
                                     reinterpret_cast<const unsigned char*>(ca_key->data())) == 0;
}

}  // namespace

CertificateAuthority CertificateAuthority::generate() {
  init_sodium();
  CertificateAuthority ca;
  std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> public_key{};
  crypto_sign_keypair(public_key.data(), ca.secret_.data());
  return ca;
}

std::optional<CertificateAuthority> CertificateAuthority::from_secret(std::string_view secret) {
  if (secret.size() != kSecretSize) return std::nullopt;
  CertificateAuthority ca;
  std::copy(secret.begin(), secret.end(), ca.secret_.begin());
  return ca;
}

CertificateAuthority::CertificateAuthority(CertificateAuthority&& other) noexcept
    : secret_(other.secret_) {
  sodium_memzero(other.secret_.data(), other.secret_.size());
}

CertificateAuthority::~CertificateAuthority() { sodium_memzero(secret_.data(), secret_.size()); }

std::string_view CertificateAuthority::secret() const {
  return {reinterpret_cast<const char*>(secret_.data()), secret_.size()};
}

std::string CertificateAuthority::public_key_line() const {
  // libsodium's secret key ends with the public key.
  const std::string_view public_key = secret().substr(crypto_sign_SEEDBYTES);
  return std::string(kEd25519) + " " + to_base64(ed25519_blob(public_key));
}

std::optional<std::string> CertificateAuthority::sign(const CertificateFields& fields,
                                                      ssh_key subject) const {
  const std::optional<std::string> subject_blob = public_key_blob(subject);
  if (!subject_blob) return std::nullopt;
  const std::optional<std::string_view> subject_key = ed25519_key(*subject_blob);
  if (!subject_key) return std::nullopt;
  init_sodium();
  std::string nonce(kNonceSize, '\0');
  randombytes_buf(nonce.data(), nonce.size());

  wire::Writer certificate;
  certificate.string(kEd25519Certificate);
  certificate.string(nonce);
  certificate.string(*subject_key);
  certificate.u64(fields.serial);
  certificate.u32(static_cast<std::uint32_t>(fields.type));
  certificate.string(fields.key_id);
  certificate.string(packed_principals(fields.principals));
  certificate.u64(fields.valid_after);
  certificate.u64(fields.valid_before);
  certificate.string(packed_options(fields.critical_options));
  certificate.string(packed_extensions(fields.extensions));
  certificate.string("");  // reserved
  certificate.string(ed25519_blob(secret().substr(crypto_sign_SEEDBYTES)));

  std::array<unsigned char, crypto_sign_BYTES> signature{};
  const std::string& signed_part = certificate.bytes();
  crypto_sign_detached(signature.data(), nullptr,
                       reinterpret_cast<const unsigned char*>(signed_part.data()),
                       signed_part.size(), secret_.data());
  wire::Writer signature_blob;
  signature_blob.string(kEd25519);
  signature_blob.string({reinterpret_cast<const char*>(signature.data()), signature.size()});
  certificate.string(signature_blob.bytes());
  return std::string(kEd25519Certificate) + " " + to_base64(certificate.bytes());
}

std::optional<ParsedCertificate> parse_certificate(std::string_view blob) {
  wire::Reader reader(blob);
  ParsedCertificate parsed;
  const auto key_type = reader.string();
  if (!key_type) return std::nullopt;
  const std::optional<int> key_fields = key_field_count(*key_type);
  if (!key_fields || !reader.string()) return std::nullopt;  // nonce
  // The certified key is the plain key type's fields after the nonce.
  wire::Writer plain_key;
  plain_key.string(key_type->substr(0, key_type->size() - kCertificateSuffix.size()));
  for (int i = 0; i < *key_fields; ++i) {
    const auto field = reader.string();
    if (!field) return std::nullopt;
    plain_key.string(*field);
  }
  parsed.key_type = *key_type;
  parsed.key_blob = plain_key.bytes();
  CertificateFields& fields = parsed.fields;
  const auto serial = reader.u64();
  const auto type = reader.u32();
  const auto key_id = reader.string();
  const auto principals = reader.string();
  const auto valid_after = reader.u64();
  const auto valid_before = reader.u64();
  const auto critical_options = reader.string();
  const auto extensions = reader.string();
  const auto reserved = reader.string();
  const auto ca_blob = reader.string();
  // The reader fails every read after a failed one, so the last field read stands for all.
  if (!ca_blob) return std::nullopt;
  const std::size_t signed_length = reader.consumed(blob);
  const auto signature = reader.string();
  if (!signature || !reader.at_end()) return std::nullopt;
  if (*type != static_cast<std::uint32_t>(CertificateType::user) &&
      *type != static_cast<std::uint32_t>(CertificateType::host)) {
    return std::nullopt;
  }
  const auto principal_list = unpack_principals(*principals);
  const auto option_map = unpack_options(*critical_options);
  const auto extension_map = unpack_options(*extensions);
  if (!principal_list || !option_map || !extension_map) return std::nullopt;
  fields.serial = *serial;
  fields.type = static_cast<CertificateType>(*type);
  fields.key_id = *key_id;
  fields.principals = *principal_list;
  fields.valid_after = *valid_after;
  fields.valid_before = *valid_before;
  fields.critical_options = *option_map;
  for (const auto& extension : *extension_map) fields.extensions.insert(extension.first);
  (void)reserved;
  parsed.ca_key_blob = *ca_blob;
  parsed.signature_valid = signature_holds(blob.substr(0, signed_length), *ca_blob, *signature);
  return parsed;
}

std::optional<ParsedCertificate> parse_certificate_line(std::string_view line) {
  const std::size_t space = line.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  std::string_view base64 = line.substr(space + 1);
  base64 = base64.substr(0, base64.find_first_of(" \r\n"));
  const std::optional<std::string> blob = from_base64(base64);
  if (!blob) return std::nullopt;
  std::optional<ParsedCertificate> parsed = parse_certificate(*blob);
  if (!parsed || parsed->key_type != line.substr(0, space)) return std::nullopt;
  return parsed;
}

std::optional<std::string> public_key_blob(ssh_key key) {
  char* raw = nullptr;
  if (ssh_pki_export_pubkey_base64(key, &raw) != SSH_OK) return std::nullopt;
  const Text base64(raw);
  return from_base64(base64.get());
}

}  // namespace portcullis::sshkey
