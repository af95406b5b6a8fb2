#include "targetssh/certificate_login.h"

#include <algorithm>

namespace portcullis::targetssh {
namespace {

// Slack for a target whose clock is a little behind the bastion's.
constexpr std::chrono::seconds kClockSkew{60};

std::uint64_t epoch_seconds(std::chrono::system_clock::time_point at) {
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(at.time_since_epoch()).count();
  return static_cast<std::uint64_t>(std::max<std::int64_t>(seconds, 0));
}

std::string join(const std::vector<std::string>& items, char separator) {
  std::string joined;
  for (const std::string& item : items) {
    if (!joined.empty()) joined += separator;
    joined += item;
  }
  return joined;
}

}  // namespace

sshkey::CertificateFields certificate_fields(const SessionCertificate& session) {
  sshkey::CertificateFields fields;
  fields.type = sshkey::CertificateType::user;
  fields.serial = static_cast<std::uint64_t>(session.session_id);
  fields.key_id = "portcullis:grant=" + std::to_string(session.grant_id) +
                  ":session=" + std::to_string(session.session_id) + ":user=" + session.user;
  fields.principals = {session.login};
  fields.valid_after = epoch_seconds(session.now - kClockSkew);
  fields.valid_before = epoch_seconds(session.grant_end);
  if (!session.source_addresses.empty()) {
    fields.critical_options["source-address"] = join(session.source_addresses, ',');
  }
  if (session.pty) fields.extensions.insert("permit-pty");
  return fields;
}

Credential certificate_credential(const sshkey::CertificateAuthority& ca,
                                  const sshkey::CertificateFields& fields) {
  Credential credential;
  credential.kind = access::CredentialKind::certificate;
  credential.key = sshkey::generate_ed25519();
  if (!credential.key) throw LoginError("cannot make a key for the session's certificate");
  const std::optional<std::string> line = ca.sign(fields, credential.key.get());
  if (!line) throw LoginError("cannot sign the session's certificate");
  const std::string base64 = line->substr(line->find(' ') + 1);
  ssh_key certificate_raw = nullptr;
  if (ssh_pki_import_cert_base64(base64.c_str(), SSH_KEYTYPE_ED25519_CERT01, &certificate_raw) !=
      SSH_OK) {
    throw LoginError("libssh cannot read the session's certificate");
  }
  const sshkey::Key certificate(certificate_raw);
  if (ssh_pki_copy_cert_to_privkey(certificate.get(), credential.key.get()) != SSH_OK) {
    throw LoginError("libssh cannot attach the certificate to the session's key");
  }
  return credential;
}

}  // namespace portcullis::targetssh
