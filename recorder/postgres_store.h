// The recorder's PostgreSQL side: recordings and recording_chunks (the RecordingStore the daemon
// ships to), the stored recordings the CLI reads back, and node_keys. Everything here links
// libpqxx; the reading side (format.h, reader.h, keys.h) does not.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "recorder/store.h"
#include "store/store.h"

namespace portcullis::recorder {

// One connection of its own (not thread-safe: the shipper's thread), reconnecting after a
// failure.
class PostgresRecordingStore final : public RecordingStore {
 public:
  explicit PostgresRecordingStore(std::string database_url);

  // RecordingStore
  void connect() override;
  void save(const Update& update) override;
  std::vector<LiveResult> save_live(const std::vector<LiveUpdate>& updates) override;
  std::string load(std::int64_t session_id) override;
  Compaction compact(std::int64_t session_id, const std::vector<PublicKey>& known_keys,
                     const ArchiveOptions& options) override;

 private:
  template <typename Work>
  auto in_transaction(Work&& work);

  store::Database database_;
};

// Stores a node's public key in node_keys (idempotent), so recordings it signs verify without
// its secret key.
void register_node_key(pqxx::connection& conn, const std::string& node, const PublicKey& key);
// Every public key in node_keys.
std::vector<PublicKey> stored_node_keys(pqxx::work& tx);
// What portcullisd does at start: loads the signing key (refusing a key file others could
// read), writes the .pub file beside it when missing, and registers the public key. A database
// that cannot be reached is logged, not fatal: the next start registers it.
void publish_node_key(const std::filesystem::path& signing_key, const std::string& node,
                      const std::string& database_url);

// Rebuilds the .pcr bytes of a stored recording, in the form it is stored in (archived: the
// archive form). Throws RecordingError when there is none.
std::string load_recording(pqxx::work& tx, std::int64_t session_id);

// RecordingStore::compact in `tx` (which the caller commits): for the node's shipper and
// `portcullis recording compact`.
RecordingStore::Compaction compact_recording(pqxx::work& tx, std::int64_t session_id,
                                             const std::vector<PublicKey>& known_keys,
                                             const ArchiveOptions& options);
// The ended recordings of format 4 not archived yet, oldest first (at most `limit`).
std::vector<std::int64_t> recordings_to_compact(pqxx::work& tx, std::size_t limit);

struct RecordingSummary {
  std::int64_t session_id = 0;
  std::string state;  // recording, complete, incomplete
  std::string incomplete_reason;
  std::uint64_t chunk_count = 0, event_count = 0, raw_bytes = 0, compressed_bytes = 0;
  std::uint64_t duration_us = 0;
  std::uint32_t format_version = 0;
  bool archived = false;
  Header header;
};
std::optional<RecordingSummary> find_recording(pqxx::work& tx, std::int64_t session_id);

// Reading a recording while it is shipped live (player::LiveScreen): its bytes up to the end of
// the header record, nullopt while nothing is stored yet; then its chunk records from `from_seq`
// on, in order, at least one and about `max_bytes` at most per call.
std::optional<std::string> load_head(pqxx::work& tx, std::int64_t session_id);
struct ChunkRecords {
  std::string records;  // concatenated, as stored
  std::uint64_t count = 0;
};
ChunkRecords load_chunk_records(pqxx::work& tx, std::int64_t session_id, std::uint64_t from_seq,
                                std::size_t max_bytes);

}  // namespace portcullis::recorder
