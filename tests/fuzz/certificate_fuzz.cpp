// OpenSSH certificates as a target presents them (sshkey/certificate.h): raw wire bytes and
// "TYPE BASE64" lines from ssh-keyscan -c. Each either parses or gives nullopt, never reads past
// its input; a certificate that parses names its certified key, is a user or host certificate,
// and holds a valid signature only from a CA key it names.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "sshkey/certificate.h"

namespace {

void check(const std::optional<portcullis::sshkey::ParsedCertificate>& parsed) {
  if (!parsed) return;
  if (parsed->key_blob.empty()) std::abort();
  // A certificate may name an empty CA key; it is then never validly signed.
  if (parsed->signature_valid && parsed->ca_key_blob.empty()) std::abort();
  if (!parsed->key_type.ends_with("-cert-v01@openssh.com")) std::abort();
  const auto type = parsed->fields.type;
  if (type != portcullis::sshkey::CertificateType::user &&
      type != portcullis::sshkey::CertificateType::host) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  check(portcullis::sshkey::parse_certificate(bytes));
  check(portcullis::sshkey::parse_certificate_line(bytes));
  return 0;
}
