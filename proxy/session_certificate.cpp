#include "proxy/session_certificate.h"

#include <nlohmann/json.hpp>

#include "common/common.h"
#include "sshkey/sshkey.h"
#include "targetssh/certificate_login.h"

namespace portcullis::proxy {
namespace {

sshkey::CertificateAuthority unseal_ca(const access::SshCa& ca, const vault::Vault& vault) {
  const vault::Secret secret =
      vault.unseal(ca.sealed_secret, access::ssh_ca_context(ca.fingerprint));
  std::optional<sshkey::CertificateAuthority> authority =
      sshkey::CertificateAuthority::from_secret(secret.reveal());
  if (!authority) {
    throw access::AccessError("CA key " + std::to_string(ca.id) + " in the database is damaged");
  }
  return std::move(*authority);
}

std::chrono::system_clock::time_point from_epoch(std::uint64_t seconds) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(seconds));
}

std::string record_json(const recorder::CertificateRecord& record, const std::string& login,
                        const std::string& key_fingerprint) {
  return nlohmann::json{{"serial", record.serial},
                        {"key_id", record.key_id},
                        {"principal", login},
                        {"valid_after", format_rfc3339(record.valid_after)},
                        {"valid_before", format_rfc3339(record.valid_before)},
                        {"ca_fingerprint", record.ca_fingerprint},
                        {"key_fingerprint", key_fingerprint}}
      .dump();
}

}  // namespace

IssuedCertificate issue_session_certificate(pqxx::work& tx, const vault::Vault& vault,
                                            const CertificateOrder& order) {
  const std::optional<access::SshCa> ca = access::signing_ssh_ca(tx);
  if (!ca) {
    throw access::AccessError(
        "the bastion has no certificate authority yet; an administrator runs `portcullis init`");
  }
  const std::optional<access::Grant> grant = access::find_grant(tx, order.grant_id);
  if (!grant || grant->state != access::GrantState::active) {
    throw access::AccessError("grant " + std::to_string(order.grant_id) + " is no longer active");
  }
  targetssh::SessionCertificate session;
  session.grant_id = order.grant_id;
  session.session_id = order.session_id;
  session.user = order.user;
  session.login = order.login;
  session.now = std::chrono::system_clock::now();
  session.grant_end = grant->expires_at;
  session.pty = order.pty;
  session.source_addresses = order.source_addresses;
  const sshkey::CertificateFields fields = targetssh::certificate_fields(session);

  IssuedCertificate issued{
      targetssh::certificate_credential(unseal_ca(*ca, vault), fields),
      recorder::CertificateRecord{fields.serial, fields.key_id, from_epoch(fields.valid_after),
                                  from_epoch(fields.valid_before), ca->fingerprint}};
  const std::string key_fingerprint = sshkey::shown_fingerprint(issued.credential.key.get());
  access::record_session_certificate(tx, order.session_id, order.actor,
                                     record_json(issued.record, order.login, key_fingerprint));
  return issued;
}

}  // namespace portcullis::proxy
