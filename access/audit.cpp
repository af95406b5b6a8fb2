// The audit log is append-only (a trigger refuses UPDATE, DELETE and TRUNCATE) and
// hash-chained, so removing or editing a row breaks every hash after it.
//
// Canonical encoding of one row, version 1:
//
//   hash = SHA-256( field("portcullis-audit-v1") || field(at) || field(actor) ||
//                   field(action) || field(object) || field(details) || field(prev_hash) )
//   field(x) = 8-byte big-endian length of x in bytes || x
//
//   at        the row's `at` in UTC as RFC 3339 with exactly six fraction digits,
//             e.g. "2026-11-25T05:00:00.123456Z"
//   details   the text PostgreSQL prints for the jsonb column (details::text), which is
//             canonical for a given value
//   prev_hash the previous row's hash (by id); 32 zero bytes for the first row
//
// In SQL, for one row:
//   sha256(int8send(19) || 'portcullis-audit-v1'::bytea || int8send(octet_length(AT)) ||
//          convert_to(AT, 'UTF8') || ... || int8send(32) || prev_hash)
// with AT = to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"').
#include <sodium.h>

#include <array>
#include <stdexcept>
#include <unordered_map>

#include "access/access.h"
#include "access/queries.h"

namespace portcullis::access {
namespace {

constexpr std::string_view kEncodingTag = "portcullis-audit-v1";
constexpr std::size_t kHashSize = crypto_hash_sha256_BYTES;
// Serializes appends so each row sees the hash of the row before it. Any constant works
// as long as it differs from the other advisory locks (the migration lock).
constexpr long long kAuditLock = 0x6175646974LL;  // "audit"

class ChainHash {
 public:
  ChainHash() { crypto_hash_sha256_init(&state_); }

  void field(std::string_view bytes) {
    std::array<unsigned char, 8> length{};
    std::uint64_t size = bytes.size();
    for (int i = 7; i >= 0; --i, size >>= 8) length[i] = static_cast<unsigned char>(size & 0xff);
    crypto_hash_sha256_update(&state_, length.data(), length.size());
    crypto_hash_sha256_update(&state_, reinterpret_cast<const unsigned char*>(bytes.data()),
                              bytes.size());
  }

  std::string finish() {
    std::string hash(kHashSize, '\0');
    crypto_hash_sha256_final(&state_, reinterpret_cast<unsigned char*>(hash.data()));
    return hash;
  }

 private:
  crypto_hash_sha256_state state_;
};

std::string row_hash(std::string_view at, std::string_view actor, std::string_view action,
                     std::string_view object, std::string_view details,
                     std::string_view prev_hash) {
  ChainHash chain;
  for (std::string_view field : {kEncodingTag, at, actor, action, object, details, prev_hash}) {
    chain.field(field);
  }
  return chain.finish();
}

const char* const kCanonicalAt =
    "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";

std::string previous_hash(pqxx::work& tx) {
  pqxx::result last = tx.exec("SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1");
  if (last.empty()) return std::string(kHashSize, '\0');
  return pqxx::binarystring(last[0][0]).str();
}

}  // namespace

void audit(pqxx::work& tx, const std::string& actor, const std::string& action,
           const std::string& object, const std::string& details_json) {
  if (sodium_init() < 0) throw std::runtime_error("cannot initialise libsodium");
  tx.exec_params("SELECT pg_advisory_xact_lock($1)", kAuditLock);
  const std::string prev_hash = previous_hash(tx);
  // Read after taking the lock, so times never go backwards along the chain.
  pqxx::row now = tx.exec_params1(
      "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
      " $1::jsonb::text",
      details_json);
  const std::string at = now[0].as<std::string>();
  const std::string details = now[1].as<std::string>();

  const std::string hash = row_hash(at, actor, action, object, details, prev_hash);

  tx.exec_params(
      "INSERT INTO audit_events (at, actor, action, object, details, prev_hash, hash)"
      " VALUES ($1::timestamptz, $2, $3, $4, $5::jsonb, $6, $7)",
      at, actor, action, object, details, pqxx::binarystring(prev_hash), pqxx::binarystring(hash));
}

std::vector<AuditEvent> list_audit(pqxx::work& tx, const AuditFilter& filter) {
  std::vector<AuditEvent> events;
  for (const pqxx::row& row :
       tx.exec_params(std::string("SELECT * FROM (SELECT id, ") + kCanonicalAt +
                          ", actor, action, object, details::text FROM audit_events WHERE " +
                          detail::since_condition("at", "$1") +
                          " AND ($2 = '' OR actor = $2 OR details->>'user' = $2)"
                          " ORDER BY id DESC LIMIT $3) newest ORDER BY id",
                      detail::since_parameter(filter.since), filter.user,
                      static_cast<long long>(filter.limit))) {
    events.push_back(AuditEvent{row[0].as<std::int64_t>(), row[1].as<std::string>(),
                                row[2].as<std::string>(), row[3].as<std::string>(),
                                row[4].as<std::string>(), row[5].as<std::string>()});
  }
  return events;
}

AuditVerification verify_audit(pqxx::work& tx) {
  if (sodium_init() < 0) throw std::runtime_error("cannot initialise libsodium");
  AuditVerification result;
  std::unordered_map<std::string, std::int64_t> seen;  // hash -> row id
  std::string expected_prev(kHashSize, '\0');
  std::int64_t previous_id = 0;
  pqxx::result rows = tx.exec(std::string("SELECT id, ") + kCanonicalAt +
                              ", actor, action, object, details::text, prev_hash, hash"
                              " FROM audit_events ORDER BY id");
  for (const pqxx::row& row : rows) {
    const auto id = row[0].as<std::int64_t>();
    const std::string prev = pqxx::binarystring(row[6]).str();
    const std::string stored = pqxx::binarystring(row[7]).str();
    const std::string computed =
        row_hash(row[1].as<std::string>(), row[2].as<std::string>(), row[3].as<std::string>(),
                 row[4].as<std::string>(), row[5].as<std::string>(), prev);
    ++result.rows;
    auto fail = [&](const std::string& problem) {
      result.intact = false;
      result.bad_row = id;
      result.problem = problem;
      return result;
    };
    if (computed != stored) {
      return fail("row " + std::to_string(id) +
                  " was altered: its contents no longer match its hash");
    }
    if (prev != expected_prev) {
      if (auto earlier = seen.find(prev); earlier != seen.end()) {
        return fail("row " + std::to_string(previous_id) + " was inserted: row " +
                    std::to_string(id) + " follows row " + std::to_string(earlier->second) +
                    " in the chain");
      }
      return fail(
          "row(s) were deleted before row " + std::to_string(id) +
          ": its previous hash matches no row" +
          (previous_id == 0 ? "" : " (the row before it is " + std::to_string(previous_id) + ")"));
    }
    seen.emplace(stored, id);
    expected_prev = stored;
    previous_id = id;
  }
  return result;
}

}  // namespace portcullis::access
