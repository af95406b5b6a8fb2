// The bastion's SSH user certificate authorities, and the certificates sessions log in with.
#include <nlohmann/json.hpp>

#include "access/queries.h"

namespace portcullis::access {
namespace {

const std::string& ssh_ca_query() {
  static const std::string sql = "SELECT id, public_key, fingerprint, sealed_secret, " +
                                 detail::micros("created_at") + ", " +
                                 detail::micros("retired_at") + " FROM ssh_cas ";
  return sql;
}

SshCa ssh_ca_from_row(const pqxx::row& row) {
  SshCa ca;
  ca.id = row[0].as<std::int64_t>();
  ca.public_key = row[1].as<std::string>();
  ca.fingerprint = row[2].as<std::string>();
  pqxx::binarystring sealed(row[3]);
  ca.sealed_secret.assign(sealed.data(), sealed.data() + sealed.size());
  ca.created_at = detail::time_at(row[4]);
  ca.retired_at = detail::optional_time_at(row[5]);
  return ca;
}

}  // namespace

std::string ssh_ca_context(const std::string& fingerprint) { return "ssh-ca:" + fingerprint; }

SshCa add_ssh_ca(pqxx::work& tx, const std::string& actor, const std::string& public_key,
                 const std::vector<std::uint8_t>& sealed_secret) {
  const detail::ParsedPublicKey key = detail::parse_public_key(public_key, "the CA key");
  // One writer at a time: the newest key signs, so two rotations must not interleave.
  tx.exec("LOCK TABLE ssh_cas IN SHARE ROW EXCLUSIVE MODE");
  const std::optional<SshCa> previous = signing_ssh_ca(tx);
  const auto id = tx.exec_params1(
                        "INSERT INTO ssh_cas (public_key, fingerprint, sealed_secret, created_by)"
                        " VALUES ($1, $2, $3, $4) RETURNING id",
                        key.normalized, key.fingerprint,
                        pqxx::binarystring(sealed_secret.data(), sealed_secret.size()), actor)[0]
                      .as<std::int64_t>();
  nlohmann::json details{{"id", id}, {"fingerprint", key.fingerprint}};
  if (previous)
    details["replaces"] = {{"id", previous->id}, {"fingerprint", previous->fingerprint}};
  audit(tx, actor, previous ? "ca.rotated" : "ca.created", "ssh-ca:" + std::to_string(id),
        details.dump());
  return ssh_ca_from_row(tx.exec_params1(ssh_ca_query() + "WHERE id = $1", id));
}

std::vector<SshCa> list_ssh_cas(pqxx::work& tx, bool include_retired) {
  std::vector<SshCa> cas;
  const std::string where = include_retired ? "" : "WHERE retired_at IS NULL ";
  for (const pqxx::row& row : tx.exec(ssh_ca_query() + where + "ORDER BY id")) {
    cas.push_back(ssh_ca_from_row(row));
  }
  return cas;
}

std::optional<SshCa> signing_ssh_ca(pqxx::work& tx) {
  pqxx::result rows = tx.exec(ssh_ca_query() + "WHERE retired_at IS NULL ORDER BY id DESC LIMIT 1");
  if (rows.empty()) return std::nullopt;
  return ssh_ca_from_row(rows[0]);
}

SshCa retire_ssh_ca(pqxx::work& tx, const std::string& actor, std::int64_t id) {
  tx.exec("LOCK TABLE ssh_cas IN SHARE ROW EXCLUSIVE MODE");
  pqxx::result rows = tx.exec_params(ssh_ca_query() + "WHERE id = $1", id);
  if (rows.empty()) {
    throw AccessError("no CA key " + std::to_string(id) + "; `portcullis ca pubkey` lists them");
  }
  const SshCa ca = ssh_ca_from_row(rows[0]);
  if (ca.retired_at) throw AccessError("CA key " + std::to_string(id) + " is already retired");
  const std::optional<SshCa> signing = signing_ssh_ca(tx);
  if (signing && signing->id == id) {
    throw AccessError("CA key " + std::to_string(id) +
                      " is the one signing certificates; run `portcullis ca rotate` first, then "
                      "retire it once every target trusts the new key");
  }
  tx.exec_params("UPDATE ssh_cas SET retired_at = now(), retired_by = $2 WHERE id = $1", id, actor);
  audit(tx, actor, "ca.retired", "ssh-ca:" + std::to_string(id),
        nlohmann::json{{"fingerprint", ca.fingerprint}}.dump());
  return ssh_ca_from_row(tx.exec_params1(ssh_ca_query() + "WHERE id = $1", id));
}

void record_session_certificate(pqxx::work& tx, std::int64_t session_id, const std::string& actor,
                                const std::string& certificate_json) {
  tx.exec_params("UPDATE sessions SET certificate = $2::jsonb WHERE id = $1", session_id,
                 certificate_json);
  audit(tx, actor, "credential.certificate_issued", "session:" + std::to_string(session_id),
        certificate_json);
}

}  // namespace portcullis::access
