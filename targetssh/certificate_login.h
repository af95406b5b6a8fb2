// Logging in with a certificate made for one session: a fresh Ed25519 key that never leaves
// memory, and a user certificate for it signed by the bastion's CA.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "sshkey/certificate.h"
#include "targetssh/targetssh.h"

namespace portcullis::targetssh {

// What the certificate of a session says.
struct SessionCertificate {
  std::int64_t grant_id = 0;
  std::int64_t session_id = 0;
  std::string user;   // the engineer
  std::string login;  // the account on the target: the one principal
  std::chrono::system_clock::time_point now;
  std::chrono::system_clock::time_point grant_end;  // the grant's current end
  bool pty = false;
  std::vector<std::string> source_addresses;  // [upstream] source_addresses
};

// principal = login; valid from 60 s before `now` (clock skew) until the grant's end; key id
// "portcullis:grant=G:session=S:user=U"; serial = the session id; no extensions but permit-pty
// with a pty; source-address when addresses are given.
sshkey::CertificateFields certificate_fields(const SessionCertificate& session);

// A fresh key with its certificate from `ca`. Throws LoginError when it cannot be made.
Credential certificate_credential(const sshkey::CertificateAuthority& ca,
                                  const sshkey::CertificateFields& fields);

}  // namespace portcullis::targetssh
