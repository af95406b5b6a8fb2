// Reading recordings as they are shipped live, for watchers (recorder/postgres_store.h).
#include "recorder/internal.h"
#include "recorder/postgres_store.h"

namespace portcullis::recorder {

std::optional<std::string> load_head(pqxx::work& tx, std::int64_t session_id) {
  const pqxx::result row = tx.exec_params(
      "SELECT header, format_version FROM recordings WHERE session_id = $1", session_id);
  if (row.empty()) return std::nullopt;
  return detail::file_prefix(row[0][1].as<std::uint32_t>()) + pqxx::binarystring(row[0][0]).str();
}

ChunkRecords load_chunk_records(pqxx::work& tx, std::int64_t session_id, std::uint64_t from_seq,
                                std::size_t max_bytes) {
  // The running total keeps one call's reply near max_bytes however big the backlog: a watcher
  // joining a long session reads it in slices.
  ChunkRecords chunks;
  for (const pqxx::row& row : tx.exec_params(
           "SELECT record FROM (SELECT seq, record, sum(length(record)) OVER (ORDER BY seq) AS"
           " running FROM recording_chunks WHERE session_id = $1 AND seq >= $2) c"
           " WHERE running - length(record) < $3 ORDER BY seq",
           session_id, static_cast<std::int64_t>(from_seq), static_cast<std::int64_t>(max_bytes))) {
    chunks.records += pqxx::binarystring(row[0]).str();
    ++chunks.count;
  }
  return chunks;
}

}  // namespace portcullis::recorder
