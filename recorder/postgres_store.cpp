// The recordings the daemon ships to PostgreSQL (recordings, recording_chunks), read back by the
// shipper and the CLI.
#include "recorder/postgres_store.h"

#include <array>

#include "recorder/internal.h"

namespace portcullis::recorder {
namespace {

// A timestamptz from whole microseconds since the epoch; float8 is exact below 2^53 µs.
constexpr const char* kMicrosToTime =
    "(timestamptz 'epoch' + $%d::bigint::float8 * interval '1 microsecond')";

std::string time_param(int index) {
  char text[80];
  std::snprintf(text, sizeof text, kMicrosToTime, index);
  return text;
}

std::int64_t micros(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

std::int64_t as_bigint(std::uint64_t v) { return static_cast<std::int64_t>(v); }

pqxx::binarystring bytes(const std::string& s) { return pqxx::binarystring(s.data(), s.size()); }

// Locks the recording row, creating it from the header when absent. Returns its state.
std::string lock_recording(pqxx::work& tx, const ParsedRecording& r) {
  const std::int64_t id = r.header.session_id;
  pqxx::result row =
      tx.exec_params("SELECT state, header FROM recordings WHERE session_id = $1 FOR UPDATE", id);
  if (row.empty()) {
    tx.exec_params(
        "INSERT INTO recordings (session_id, format_version, node, header, node_key_fingerprint, "
        "started_at) VALUES ($1, $2, $3, $4, $5, " +
            time_param(6) + ")",
        id, static_cast<int>(r.version), r.header.node, bytes(r.header_record),
        r.header.node_key_fingerprint, micros(r.header.started_at));
    return "recording";
  }
  if (pqxx::binarystring(row[0][1]).str() != r.header_record) {
    throw RecordingError("session " + std::to_string(id) +
                         " already has a recording with another header in the database");
  }
  return row[0][0].as<std::string>();
}

// Inserts the verified chunks the database does not hold yet.
void store_chunks(pqxx::work& tx, const ParsedRecording& r, std::uint64_t verified) {
  const std::int64_t id = r.header.session_id;
  const auto stored =
      tx.exec_params("SELECT count(*) FROM recording_chunks WHERE session_id = $1", id)[0][0]
          .as<std::uint64_t>();
  for (std::uint64_t seq = stored; seq < verified; ++seq) {
    const Chunk& c = r.chunks[seq];
    tx.exec_params(
        "INSERT INTO recording_chunks (session_id, seq, first_us, last_us, record) "
        "VALUES ($1, $2, $3, $4, $5)",
        id, as_bigint(c.seq), as_bigint(c.first_us), as_bigint(c.last_us), bytes(c.record));
  }
}

// Sets the totals over the first `count` chunks, and the end when `state` is not "recording".
void update_recording(pqxx::work& tx, const ParsedRecording& r, std::uint64_t count,
                      const std::string& state, const std::optional<std::string>& reason,
                      const std::optional<std::string>& trailer) {
  std::uint64_t events = 0, raw = 0, compressed = 0, duration = 0;
  for (std::uint64_t i = 0; i < count; ++i) {
    events += r.chunks[i].event_count;
    raw += r.chunks[i].raw_size;
    compressed += r.chunks[i].frame().size();
    duration = r.chunks[i].last_us;
  }
  // libpqxx 6 cannot pass an optional bytea: the trailer is a parameter only when present.
  const std::string sql =
      "UPDATE recordings SET state = $2, incomplete_reason = $3, chunk_count = $4, "
      "event_count = $5, raw_bytes = $6, compressed_bytes = $7, duration_us = $8, "
      "ended_at = CASE WHEN $2 = 'recording' THEN NULL "
      "ELSE started_at + $8::bigint::float8 * interval '1 microsecond' END, trailer = " +
      std::string(trailer ? "$9" : "NULL") + " WHERE session_id = $1";
  if (trailer) {
    tx.exec_params(sql, r.header.session_id, state, reason, as_bigint(count), as_bigint(events),
                   as_bigint(raw), as_bigint(compressed), as_bigint(duration), bytes(*trailer));
  } else {
    tx.exec_params(sql, r.header.session_id, state, reason, as_bigint(count), as_bigint(events),
                   as_bigint(raw), as_bigint(compressed), as_bigint(duration));
  }
}

// recordings.state, in RecordingStore::State's order.
std::string state_name(RecordingStore::State state) {
  constexpr std::array<const char*, 3> kNames{"recording", "complete", "incomplete"};
  return kNames.at(static_cast<std::size_t>(state));
}

}  // namespace

PostgresRecordingStore::PostgresRecordingStore(std::string database_url)
    : database_(std::move(database_url)) {}

void PostgresRecordingStore::connect() { database_.connection(); }

// A failure may have left the connection unusable: the next call reconnects.
template <typename Work>
auto PostgresRecordingStore::in_transaction(Work&& work) {
  try {
    pqxx::work tx(database_.connection());
    auto result = work(tx);
    tx.commit();
    return result;
  } catch (...) {
    database_.reset();
    throw;
  }
}

void PostgresRecordingStore::save(const Update& update) {
  const ParsedRecording& r = update.recording;
  in_transaction([&](pqxx::work& tx) {
    if (lock_recording(tx, r) != "recording") return false;
    store_chunks(tx, r, update.chunks);
    const bool complete = update.state == State::complete;
    const bool incomplete = update.state == State::incomplete;
    update_recording(tx, r, update.chunks, state_name(update.state),
                     incomplete ? std::optional(update.incomplete_reason) : std::nullopt,
                     complete ? std::optional(r.trailer->record) : std::nullopt);
    return true;
  });
}

std::string PostgresRecordingStore::load(std::int64_t session_id) {
  return in_transaction([&](pqxx::work& tx) { return load_recording(tx, session_id); });
}

std::string load_recording(pqxx::work& tx, std::int64_t session_id) {
  const pqxx::result row = tx.exec_params(
      "SELECT header, trailer, format_version FROM recordings WHERE session_id = $1", session_id);
  if (row.empty()) {
    throw RecordingError("no recording is stored for session " + std::to_string(session_id));
  }
  std::string file =
      detail::file_prefix(row[0][2].as<std::uint32_t>()) + pqxx::binarystring(row[0][0]).str();
  for (const pqxx::row& chunk : tx.exec_params(
           "SELECT record FROM recording_chunks WHERE session_id = $1 ORDER BY seq", session_id)) {
    file += pqxx::binarystring(chunk[0]).str();
  }
  if (!row[0][1].is_null()) file += pqxx::binarystring(row[0][1]).str();
  return file;
}

std::optional<RecordingSummary> find_recording(pqxx::work& tx, std::int64_t session_id) {
  const pqxx::result row = tx.exec_params(
      "SELECT state, coalesce(incomplete_reason, ''), chunk_count, event_count, raw_bytes, "
      "compressed_bytes, duration_us, header FROM recordings WHERE session_id = $1",
      session_id);
  if (row.empty()) return std::nullopt;
  RecordingSummary s;
  s.session_id = session_id;
  s.state = row[0][0].as<std::string>();
  s.incomplete_reason = row[0][1].as<std::string>();
  s.chunk_count = row[0][2].as<std::uint64_t>();
  s.event_count = row[0][3].as<std::uint64_t>();
  s.raw_bytes = row[0][4].as<std::uint64_t>();
  s.compressed_bytes = row[0][5].as<std::uint64_t>();
  s.duration_us = row[0][6].as<std::uint64_t>();
  const std::string header = pqxx::binarystring(row[0][7]).str();
  s.header = header_from_json(std::string_view(header).substr(detail::kRecordPrefixSize));
  return s;
}

}  // namespace portcullis::recorder
