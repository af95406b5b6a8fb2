// OpenSSH certificates (PROTOCOL.certkeys), written and checked in-process: the bastion signs a
// user certificate for each session on a certificate account with its Ed25519 CA, and checks
// the host certificates targets present against the CA trusted for them.
#pragma once

#include <libssh/libssh.h>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::sshkey {

enum class CertificateType : std::uint32_t { user = 1, host = 2 };

// What a certificate says; the certified key and the CA's signature come beside it.
struct CertificateFields {
  CertificateType type = CertificateType::user;
  std::uint64_t serial = 0;
  std::string key_id;
  std::vector<std::string> principals;
  std::uint64_t valid_after = 0;  // seconds since the epoch
  std::uint64_t valid_before = 0;
  std::map<std::string, std::string> critical_options;  // "source-address" -> "10.0.0.1/32"
  std::set<std::string> extensions;                     // "permit-pty"
};

// A certificate authority's Ed25519 key (libsodium's 64-byte secret key: seed, then public key),
// wiped from memory when it goes.
class CertificateAuthority {
 public:
  static constexpr std::size_t kSecretSize = 64;
  // A new random key.
  static CertificateAuthority generate();
  // From the 64 raw bytes (as sealed in the vault); nullopt on any other size.
  static std::optional<CertificateAuthority> from_secret(std::string_view secret);

  CertificateAuthority(const CertificateAuthority&) = delete;
  CertificateAuthority& operator=(const CertificateAuthority&) = delete;
  CertificateAuthority(CertificateAuthority&& other) noexcept;
  CertificateAuthority& operator=(CertificateAuthority&&) = delete;
  ~CertificateAuthority();

  // The raw secret, for sealing it. Never log or print it.
  std::string_view secret() const;
  // "ssh-ed25519 AAAA..." as authorized_keys and TrustedUserCAKeys want it.
  std::string public_key_line() const;
  // The certificate of `subject` (a public Ed25519 key, or a private one: only its public half
  // is used), as an OpenSSH line "ssh-ed25519-cert-v01@openssh.com BASE64". Nullopt when the
  // subject is not an Ed25519 key libssh can export.
  std::optional<std::string> sign(const CertificateFields& fields, ssh_key subject) const;

 private:
  CertificateAuthority() = default;
  std::array<unsigned char, kSecretSize> secret_{};
};

// A certificate taken apart.
struct ParsedCertificate {
  std::string key_type;  // "ssh-ed25519-cert-v01@openssh.com"
  std::string key_blob;  // the certified key, as a plain public key in SSH wire form
  CertificateFields fields;
  std::string ca_key_blob;  // the signature key, in SSH wire form
  // The CA's signature over the certificate holds. Only Ed25519 CAs are checked; a
  // certificate from any other kind of CA is never valid here.
  bool signature_valid = false;
};

// From a certificate's wire form; nullopt when it is not a well-formed OpenSSH certificate of
// an Ed25519, ECDSA or RSA key.
std::optional<ParsedCertificate> parse_certificate(std::string_view blob);
// From an OpenSSH line "type BASE64 [comment]" (ssh-keyscan -c prints host certificates so).
std::optional<ParsedCertificate> parse_certificate_line(std::string_view line);

// A public key's SSH wire form (for a certificate key, the certificate's); nullopt when libssh
// cannot export it.
std::optional<std::string> public_key_blob(ssh_key key);

}  // namespace portcullis::sshkey
