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
#include <array>
#include <stdexcept>

#include "access/access.h"
#include "access/audit_chain.h"
#include "access/queries.h"

namespace portcullis::access {
namespace detail {

std::string length_prefixed(std::initializer_list<std::string_view> fields) {
  std::string encoded;
  for (std::string_view field : fields) {
    std::uint64_t size = field.size();
    std::array<char, 8> length{};
    for (int i = 7; i >= 0; --i, size >>= 8) length[i] = static_cast<char>(size & 0xff);
    encoded.append(length.data(), length.size());
    encoded.append(field);
  }
  return encoded;
}

std::string audit_row_hash(std::string_view at, std::string_view actor, std::string_view action,
                           std::string_view object, std::string_view details,
                           std::string_view prev_hash) {
  const std::string encoded =
      length_prefixed({"portcullis-audit-v1", at, actor, action, object, details, prev_hash});
  std::string hash(kAuditHashSize, '\0');
  crypto_hash_sha256(reinterpret_cast<unsigned char*>(hash.data()),
                     reinterpret_cast<const unsigned char*>(encoded.data()), encoded.size());
  return hash;
}

std::string canonical_time(std::string_view expression) {
  return "to_char((" + std::string(expression) +
         ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";
}

void require_sodium() {
  if (sodium_init() < 0) throw std::runtime_error("cannot initialise libsodium");
}

}  // namespace detail

namespace {

// Serializes appends so each row sees the hash of the row before it. Any constant works
// as long as it differs from the other advisory locks (the migration lock).
constexpr long long kAuditLock = 0x6175646974LL;  // "audit"

std::string previous_hash(pqxx::work& tx) {
  pqxx::result last = tx.exec("SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1");
  if (last.empty()) return std::string(detail::kAuditHashSize, '\0');
  return pqxx::binarystring(last[0][0]).str();
}

const std::string& event_columns() {
  static const std::string columns =
      "id, " + detail::canonical_time("at") + ", actor, action, object, details::text, hash";
  return columns;
}

AuditEvent event_from_row(const pqxx::row& row) {
  return AuditEvent{row[0].as<std::int64_t>(),       row[1].as<std::string>(),
                    row[2].as<std::string>(),        row[3].as<std::string>(),
                    row[4].as<std::string>(),        row[5].as<std::string>(),
                    pqxx::binarystring(row[6]).str()};
}

}  // namespace

void audit(pqxx::work& tx, const std::string& actor, const std::string& action,
           const std::string& object, const std::string& details_json) {
  detail::require_sodium();
  tx.exec_params("SELECT pg_advisory_xact_lock($1)", kAuditLock);
  const std::string prev_hash = previous_hash(tx);
  // Read after taking the lock, so times never go backwards along the chain.
  pqxx::row now = tx.exec_params1(
      "SELECT " + detail::canonical_time("clock_timestamp()") + ", $1::jsonb::text", details_json);
  const std::string at = now[0].as<std::string>();
  const std::string details = now[1].as<std::string>();

  const std::string hash = detail::audit_row_hash(at, actor, action, object, details, prev_hash);

  tx.exec_params(
      "INSERT INTO audit_events (at, actor, action, object, details, prev_hash, hash)"
      " VALUES ($1::timestamptz, $2, $3, $4, $5::jsonb, $6, $7)",
      at, actor, action, object, details, pqxx::binarystring(prev_hash), pqxx::binarystring(hash));
}

std::vector<AuditEvent> list_audit(pqxx::work& tx, const AuditFilter& filter) {
  std::vector<AuditEvent> events;
  for (const pqxx::row& row : tx.exec_params(
           "SELECT * FROM (SELECT " + event_columns() + " FROM audit_events WHERE " +
               detail::since_condition("at", "$1") +
               " AND ($2 = '' OR actor = $2 OR details->>'user' = $2)"
               " AND ($4 = '' OR action = $4) AND ($5 = '' OR object = $5)"
               " AND ($6::bigint = 0 OR at <= " +
               detail::from_micros("$6") +
               ")"
               " ORDER BY id DESC LIMIT $3) newest ORDER BY id",
           detail::since_parameter(filter.since), filter.user, static_cast<long long>(filter.limit),
           filter.action, filter.object, filter.until ? detail::micros_of(*filter.until) : 0LL)) {
    events.push_back(event_from_row(row));
  }
  return events;
}

std::optional<AuditEvent> audit_head(pqxx::work& tx) {
  pqxx::result head =
      tx.exec("SELECT " + event_columns() + " FROM audit_events ORDER BY id DESC LIMIT 1");
  if (head.empty()) return std::nullopt;
  return event_from_row(head[0]);
}

std::optional<std::vector<AuditEvent>> claim_audit_stream(pqxx::work& tx, std::size_t limit) {
  pqxx::result position = tx.exec("SELECT last_id FROM audit_stream FOR UPDATE SKIP LOCKED");
  if (position.empty()) return std::nullopt;
  std::vector<AuditEvent> events;
  for (const pqxx::row& row : tx.exec_params(
           "SELECT " + event_columns() + " FROM audit_events WHERE id > $1 ORDER BY id LIMIT $2",
           position[0][0].as<std::int64_t>(), static_cast<long long>(limit))) {
    events.push_back(event_from_row(row));
  }
  return events;
}

void advance_audit_stream(pqxx::work& tx, std::int64_t last_id) {
  tx.exec_params("UPDATE audit_stream SET last_id = greatest(last_id, $1), updated_at = now()",
                 last_id);
}

}  // namespace portcullis::access
