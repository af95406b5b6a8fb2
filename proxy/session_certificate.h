// The certificate a session on a certificate account logs in with. Issued in the transaction
// that opens the session row, so its serial is the session id and it exists only if the
// issuance is recorded: a certificate the audit log does not name is never made.
#pragma once

#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "access/access.h"
#include "recorder/format.h"
#include "targetssh/targetssh.h"
#include "vault/vault.h"

namespace portcullis::proxy {

struct IssuedCertificate {
  targetssh::Credential credential;    // the fresh key with its certificate; memory only
  recorder::CertificateRecord record;  // what the recording header says about it
};

struct CertificateOrder {
  std::int64_t session_id = 0;
  std::int64_t grant_id = 0;
  std::string user;
  std::string login;
  std::string actor;  // who the issuance is audited under: the node
  bool pty = false;
  std::vector<std::string> source_addresses;
};

// Signs with the newest CA key (unsealed from the database with `vault`), valid until the
// grant's end as the database has it now, and records it (access::record_session_certificate).
// Throws access::AccessError when the bastion has no CA key or the grant has ended.
IssuedCertificate issue_session_certificate(pqxx::work& tx, const vault::Vault& vault,
                                            const CertificateOrder& order);

}  // namespace portcullis::proxy
