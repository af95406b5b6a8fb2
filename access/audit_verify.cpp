// `portcullis audit verify`: the chain, then the signed checkpoints, the anchor and the age of
// the tail. The chain alone proves rows were not edited or removed in the middle; only a
// signature made outside the database proves the newest rows were not cut off or the whole
// chain recomputed by someone who can write to it.
#include <sodium.h>

#include <algorithm>
#include <stdexcept>
#include <unordered_map>

#include "access/access.h"
#include "access/audit_chain.h"

namespace portcullis::access {
namespace {

std::string describe(const AuditCheckpoint& checkpoint) {
  return "checkpoint " + std::to_string(checkpoint.id) + " (node " + checkpoint.node + ", " +
         checkpoint.at + ")";
}

bool signature_holds(const AuditCheckpoint& checkpoint, const std::string& public_key) {
  if (public_key.size() != crypto_sign_PUBLICKEYBYTES ||
      checkpoint.signature.size() != crypto_sign_BYTES) {
    return false;
  }
  const std::string message = checkpoint_message(checkpoint);
  return crypto_sign_verify_detached(
             reinterpret_cast<const unsigned char*>(checkpoint.signature.data()),
             reinterpret_cast<const unsigned char*>(message.data()), message.size(),
             reinterpret_cast<const unsigned char*>(public_key.data())) == 0;
}

class Verifier {
 public:
  Verifier(pqxx::work& tx, const AuditVerifyOptions& options) : tx_(tx), options_(options) {}

  AuditVerification run() {
    const std::vector<AuditCheckpoint> checkpoints = list_checkpoints(tx_);
    // The rows checkpoints and the anchor name; their hashes are kept while walking.
    for (const AuditCheckpoint& checkpoint : checkpoints) named_[checkpoint.last_id];
    if (options_.anchor) named_[options_.anchor->first];
    if (!walk_chain()) return result_;
    for (const AuditCheckpoint& checkpoint : checkpoints) {
      if (!check(checkpoint)) return result_;
    }
    if (options_.anchor && !check_anchor(*options_.anchor)) return result_;
    check_tail_age();
    return result_;
  }

 private:
  bool fail(std::int64_t row, const std::string& problem) {
    result_.intact = false;
    result_.bad_row = row;
    result_.problem = problem;
    return false;
  }

  // Every row in id order, recomputing every hash.
  bool walk_chain() {
    std::unordered_map<std::string, std::int64_t> seen;  // hash -> row id
    std::string expected_prev(detail::kAuditHashSize, '\0');
    pqxx::result rows = tx_.exec("SELECT id, " + detail::canonical_time("at") +
                                 ", actor, action, object, details::text, prev_hash, hash"
                                 " FROM audit_events ORDER BY id");
    for (const pqxx::row& row : rows) {
      const auto id = row[0].as<std::int64_t>();
      const std::string prev = pqxx::binarystring(row[6]).str();
      const std::string stored = pqxx::binarystring(row[7]).str();
      const std::string computed = detail::audit_row_hash(
          row[1].as<std::string>(), row[2].as<std::string>(), row[3].as<std::string>(),
          row[4].as<std::string>(), row[5].as<std::string>(), prev);
      ++result_.rows;
      if (computed != stored) {
        return fail(id, "row " + std::to_string(id) +
                            " was altered: its contents no longer match its hash");
      }
      if (prev != expected_prev) {
        if (auto earlier = seen.find(prev); earlier != seen.end()) {
          return fail(id, "row " + std::to_string(last_id_) + " was inserted: row " +
                              std::to_string(id) + " follows row " +
                              std::to_string(earlier->second) + " in the chain");
        }
        return fail(
            id,
            "row(s) were deleted before row " + std::to_string(id) +
                ": its previous hash matches no row" +
                (last_id_ == 0 ? "" : " (the row before it is " + std::to_string(last_id_) + ")"));
      }
      seen.emplace(stored, id);
      if (auto named = named_.find(id); named != named_.end()) named->second = stored;
      expected_prev = stored;
      last_id_ = id;
    }
    return true;
  }

  bool check(const AuditCheckpoint& checkpoint) {
    auto key = options_.node_keys.find(checkpoint.key_fingerprint);
    if (key == options_.node_keys.end()) {
      return fail(checkpoint.last_id,
                  describe(checkpoint) + " names the key " + checkpoint.key_fingerprint +
                      ", which no node registered: it was not made by a known node");
    }
    if (!signature_holds(checkpoint, key->second)) {
      return fail(checkpoint.last_id, describe(checkpoint) +
                                          " has a signature that does not verify: it was "
                                          "forged or altered");
    }
    const std::string& row_hash = named_.at(checkpoint.last_id);
    if (row_hash.empty() && checkpoint.last_id > last_id_) {
      return fail(last_id_ + 1, "rows after row " + std::to_string(last_id_) +
                                    " were deleted: " + describe(checkpoint) + " signed row " +
                                    std::to_string(checkpoint.last_id) +
                                    ", but the log now ends at row " + std::to_string(last_id_));
    }
    if (row_hash.empty()) {
      return fail(checkpoint.last_id, "row " + std::to_string(checkpoint.last_id) + ", which " +
                                          describe(checkpoint) +
                                          " signed, is missing: the log was rewritten");
    }
    if (row_hash != checkpoint.last_hash) {
      return fail(checkpoint.last_id,
                  "row " + std::to_string(checkpoint.last_id) + " no longer has the hash " +
                      describe(checkpoint) +
                      " signed: the log was rewritten and its hashes recomputed");
    }
    ++result_.checkpoints;
    if (!result_.newest_checkpoint || checkpoint.last_id > result_.newest_checkpoint->last_id) {
      result_.newest_checkpoint = checkpoint;
    }
    return true;
  }

  bool check_anchor(const std::pair<std::int64_t, std::string>& anchor) {
    const std::string& row_hash = named_.at(anchor.first);
    const std::string row = "row " + std::to_string(anchor.first);
    if (row_hash.empty()) {
      return fail(anchor.first, row + " of the anchor is missing" +
                                    (anchor.first > last_id_
                                         ? ": the log ends at row " + std::to_string(last_id_) +
                                               ", so rows were deleted from its end"
                                         : ": the log was rewritten"));
    }
    if (row_hash != anchor.second) {
      return fail(anchor.first,
                  row + " does not have the anchor's hash: the log was rewritten up to it");
    }
    result_.anchor_matched = true;
    return true;
  }

  // Rows newer than every checkpoint are expected only for a few seconds: a running
  // portcullisd signs the head every kCheckpointInterval.
  void check_tail_age() {
    const std::int64_t covered = result_.newest_checkpoint ? result_.newest_checkpoint->last_id : 0;
    pqxx::row tail = tx_.exec_params1(
        "SELECT count(*), min(id), coalesce(min(at) < clock_timestamp() - make_interval("
        "secs => $2), false), " +
            detail::canonical_time("min(at)") + " FROM audit_events WHERE id > $1",
        covered, static_cast<double>(options_.max_checkpoint_age.count()));
    result_.uncovered_rows = tail[0].as<std::int64_t>();
    if (result_.uncovered_rows == 0 || options_.max_checkpoint_age.count() == 0 ||
        !tail[2].as<bool>()) {
      return;
    }
    const auto first = tail[1].as<std::int64_t>();
    fail(first, std::to_string(result_.uncovered_rows) + " row(s) from row " +
                    std::to_string(first) + " on are newer than every checkpoint, although row " +
                    std::to_string(first) + " was written at " + tail[3].as<std::string>() +
                    ", more than " + std::to_string(options_.max_checkpoint_age.count()) +
                    " s ago: newer checkpoints were removed, or no portcullisd has signed the "
                    "log since (then start one and verify again after " +
                    std::to_string(kCheckpointInterval.count() * 2) + " s)");
  }

  pqxx::work& tx_;
  const AuditVerifyOptions& options_;
  AuditVerification result_;
  std::unordered_map<std::int64_t, std::string> named_;  // row id -> its hash, once seen
  std::int64_t last_id_ = 0;
};

}  // namespace

AuditVerification verify_audit(pqxx::work& tx, const AuditVerifyOptions& options) {
  detail::require_sodium();
  return Verifier(tx, options).run();
}

}  // namespace portcullis::access
