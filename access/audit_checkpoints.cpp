// Signed checkpoints of the audit chain's head (schema 007).
//
// The signed message, version 1, in the field encoding of the chain (audit.cpp):
//
//   field("portcullis-audit-checkpoint-v1") || field(node) || field(key_fingerprint) ||
//   field(last_id as decimal text) || field(last_hash, 32 bytes) || field(at)
//
// signed with Ed25519 (libsodium crypto_sign_detached), `at` as RFC 3339 UTC with six
// fraction digits. The key is the node's recording signing key; its public half is in
// node_keys, so anyone can check a checkpoint and nobody without the secret key can make one.
#include <string>

#include "access/access.h"
#include "access/audit_chain.h"

namespace portcullis::access {

std::string checkpoint_message(const AuditCheckpoint& checkpoint) {
  return detail::length_prefixed({"portcullis-audit-checkpoint-v1", checkpoint.node,
                                  checkpoint.key_fingerprint, std::to_string(checkpoint.last_id),
                                  checkpoint.last_hash, checkpoint.at});
}

std::optional<AuditCheckpoint> checkpoint_audit_head(pqxx::work& tx, const std::string& node,
                                                     const std::string& key_fingerprint,
                                                     const CheckpointSigner& sign,
                                                     std::int64_t signed_up_to) {
  std::optional<AuditEvent> head = audit_head(tx);
  if (!head || head->id <= signed_up_to) return std::nullopt;
  AuditCheckpoint checkpoint;
  checkpoint.node = node;
  checkpoint.key_fingerprint = key_fingerprint;
  checkpoint.last_id = head->id;
  checkpoint.last_hash = head->hash;
  checkpoint.at =
      tx.exec1("SELECT " + detail::canonical_time("clock_timestamp()"))[0].as<std::string>();
  checkpoint.signature = sign(checkpoint_message(checkpoint));
  checkpoint.id =
      tx.exec_params1(
            "INSERT INTO audit_checkpoints (node, key_fingerprint, last_id, last_hash, at,"
            " signature) VALUES ($1, $2, $3, $4, $5::timestamptz, $6) RETURNING id",
            checkpoint.node, checkpoint.key_fingerprint, checkpoint.last_id,
            pqxx::binarystring(checkpoint.last_hash), checkpoint.at,
            pqxx::binarystring(checkpoint.signature))[0]
          .as<std::int64_t>();
  return checkpoint;
}

namespace {

std::vector<AuditCheckpoint> query_checkpoints(pqxx::work& tx, std::string_view order_and_limit) {
  std::vector<AuditCheckpoint> checkpoints;
  for (const pqxx::row& row : tx.exec(
           "SELECT id, node, key_fingerprint, last_id, last_hash, " + detail::canonical_time("at") +
           ", signature FROM audit_checkpoints " + std::string(order_and_limit))) {
    checkpoints.push_back(AuditCheckpoint{
        row[0].as<std::int64_t>(), row[1].as<std::string>(), row[2].as<std::string>(),
        row[3].as<std::int64_t>(), pqxx::binarystring(row[4]).str(), row[5].as<std::string>(),
        pqxx::binarystring(row[6]).str()});
  }
  return checkpoints;
}

}  // namespace

std::vector<AuditCheckpoint> list_checkpoints(pqxx::work& tx) {
  return query_checkpoints(tx, "ORDER BY id");
}

std::optional<AuditCheckpoint> latest_checkpoint(pqxx::work& tx) {
  std::vector<AuditCheckpoint> newest = query_checkpoints(tx, "ORDER BY id DESC LIMIT 1");
  if (newest.empty()) return std::nullopt;
  return newest.front();
}

}  // namespace portcullis::access
