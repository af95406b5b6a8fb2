// The recordings the daemon ships to PostgreSQL (recordings, recording_chunks), read back by the
// shipper and the CLI.
#include "recorder/postgres_store.h"

#include <algorithm>
#include <array>
#include <span>

#include "common/common.h"
#include "recorder/internal.h"
#include "recorder/keys.h"

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

// A recording row, locked, and the number of chunks stored for it. Chunks are stored without a
// gap from seq 0, so that number is max(seq) + 1: one index lookup, where count(*) would read
// every chunk of a long session each second.
struct LockedRecording {
  std::string state;
  std::string header_record;
  std::uint64_t chunks = 0;
};

std::optional<LockedRecording> lock_existing(pqxx::work& tx, std::int64_t session_id) {
  const pqxx::result row = tx.exec_params(
      "SELECT state, header, (SELECT coalesce(max(seq) + 1, 0) FROM recording_chunks c "
      "WHERE c.session_id = r.session_id) FROM recordings r WHERE session_id = $1 FOR UPDATE",
      session_id);
  if (row.empty()) return std::nullopt;
  return LockedRecording{row[0][0].as<std::string>(), pqxx::binarystring(row[0][1]).str(),
                         row[0][2].as<std::uint64_t>()};
}

// Creates the recording row from its header; false when its session is not in the database.
bool insert_recording(pqxx::work& tx, std::uint32_t version, const Header& header,
                      const std::string& header_record) {
  const pqxx::result done = tx.exec_params(
      "INSERT INTO recordings (session_id, format_version, node, header, node_key_fingerprint, "
      "started_at) SELECT $1, $2, $3, $4, $5, " +
          time_param(6) + " WHERE EXISTS (SELECT 1 FROM sessions WHERE id = $1)",
      header.session_id, static_cast<int>(version), header.node, bytes(header_record),
      header.node_key_fingerprint, micros(header.started_at));
  return done.affected_rows() == 1;
}

// Locks the recording row, creating it from the header when absent. Returns its state.
std::string lock_recording(pqxx::work& tx, const ParsedRecording& r) {
  const std::int64_t id = r.header.session_id;
  const std::optional<LockedRecording> stored = lock_existing(tx, id);
  if (!stored) {
    if (!insert_recording(tx, r.version, r.header, r.header_record)) {
      throw RecordingError("session " + std::to_string(id) + " is not in the database");
    }
    return "recording";
  }
  if (stored->header_record != r.header_record) {
    throw RecordingError("session " + std::to_string(id) +
                         " already has a recording with another header in the database");
  }
  return stored->state;
}

void insert_chunk(pqxx::work& tx, std::int64_t session_id, const Chunk& c) {
  tx.exec_params(
      "INSERT INTO recording_chunks (session_id, seq, first_us, last_us, record) "
      "VALUES ($1, $2, $3, $4, $5)",
      session_id, as_bigint(c.seq), as_bigint(c.first_us), as_bigint(c.last_us), bytes(c.record));
}

// Inserts the verified chunks the database does not hold yet.
void store_chunks(pqxx::work& tx, const ParsedRecording& r, std::uint64_t verified) {
  const std::int64_t id = r.header.session_id;
  const auto stored =
      tx.exec_params("SELECT count(*) FROM recording_chunks WHERE session_id = $1", id)[0][0]
          .as<std::uint64_t>();
  for (std::uint64_t seq = stored; seq < verified; ++seq) insert_chunk(tx, id, r.chunks[seq]);
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

// The common case of live shipping in one statement: the chunk that follows the stored ones of
// a recording still being recorded, with its totals. False when it is not that case (no
// recording yet, a chunk stored already, a gap, an ended recording): nothing is changed.
bool append_next_chunk(pqxx::work& tx, std::int64_t session_id, const Chunk& c) {
  const pqxx::result done = tx.exec_params(
      "WITH recording AS (UPDATE recordings SET chunk_count = $2 + 1, "
      "event_count = event_count + $5, raw_bytes = raw_bytes + $6, "
      "compressed_bytes = compressed_bytes + $7, duration_us = $4 "
      "WHERE session_id = $1 AND state = 'recording' AND $2 = (SELECT coalesce(max(seq) + 1, 0) "
      "FROM recording_chunks WHERE session_id = $1) RETURNING session_id) "
      "INSERT INTO recording_chunks (session_id, seq, first_us, last_us, record) "
      "SELECT session_id, $2, $3, $4, $8 FROM recording",
      session_id, as_bigint(c.seq), as_bigint(c.first_us), as_bigint(c.last_us),
      as_bigint(c.event_count), as_bigint(c.raw_size), as_bigint(c.frame().size()),
      bytes(c.record));
  return done.affected_rows() == 1;
}

// Every other case, with the recording locked: it is created from the header when absent, and
// checked (still recording, the same header); chunks stored before are skipped, and a chunk
// past a gap is never stored (the session is behind).
RecordingStore::LiveResult store_carefully(pqxx::work& tx, const RecordingStore::LiveUpdate& update,
                                           std::span<const Chunk> chunks, bool& stored_some) {
  using LiveResult = RecordingStore::LiveResult;
  const RecordingStore::SpoolHeader& header = *update.header;
  std::optional<LockedRecording> stored = lock_existing(tx, update.session_id);
  if (!stored) {
    if (!insert_recording(tx, kFormatVersion, header.header, header.record)) {
      return LiveResult::not_recording;
    }
    stored = LockedRecording{"recording", header.record, 0};
  }
  if (stored->state != "recording" || stored->header_record != header.record) {
    return LiveResult::not_recording;
  }
  std::uint64_t next = stored->chunks;
  for (const Chunk& c : chunks) {
    if (c.seq < next) continue;  // stored by an earlier pass or a catch-up
    if (c.seq > next || !append_next_chunk(tx, update.session_id, c)) break;
    ++next;
    stored_some = true;
  }
  const bool gap = !chunks.empty() && chunks.back().seq >= next;
  return gap ? LiveResult::behind : LiveResult::stored;
}

// A running session's chunks that continue the stored ones, and their totals; the recording
// stays "recording". Usually one statement a chunk; store_carefully() when that does not fit.
RecordingStore::LiveResult store_live(pqxx::work& tx, const RecordingStore::LiveUpdate& update) {
  const std::span<const Chunk> chunks(update.chunks);
  std::size_t appended = 0;
  while (appended < chunks.size() && append_next_chunk(tx, update.session_id, chunks[appended])) {
    ++appended;
  }
  bool stored_some = appended > 0;
  const RecordingStore::LiveResult result =
      appended == chunks.size()
          ? RecordingStore::LiveResult::stored
          : store_carefully(tx, update, chunks.subspan(appended), stored_some);
  // Delivered at commit, to whoever LISTENs: the watch client reads the new chunks at once.
  if (stored_some && update.watched) {
    tx.exec_params("SELECT pg_notify('portcullis_recording', $1)",
                   std::to_string(update.session_id));
  }
  return result;
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

std::vector<RecordingStore::LiveResult> PostgresRecordingStore::save_live(
    const std::vector<LiveUpdate>& updates) {
  return in_transaction([&](pqxx::work& tx) {
    std::vector<LiveResult> results;
    results.reserve(updates.size());
    for (const LiveUpdate& update : updates) results.push_back(store_live(tx, update));
    return results;
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
  // Chunk rows (live form) or segment rows (archived): compaction replaces the one by the other
  // in one transaction, so a committed recording has only one kind.
  for (const pqxx::row& record : tx.exec_params(
           "SELECT record FROM (SELECT seq AS at, record FROM recording_chunks "
           "WHERE session_id = $1 UNION ALL SELECT first_seq, record FROM recording_segments "
           "WHERE session_id = $1) stored ORDER BY at",
           session_id)) {
    file += pqxx::binarystring(record[0]).str();
  }
  if (!row[0][1].is_null()) file += pqxx::binarystring(row[0][1]).str();
  return file;
}

namespace {

// The key among `known` that the header names.
std::optional<PublicKey> key_named(const Header& header, const std::vector<PublicKey>& known) {
  for (const PublicKey& key : known) {
    if (fingerprint(key) == header.node_key_fingerprint) return key;
  }
  return std::nullopt;
}

// What compaction requires of a recording before and after: every chunk there, chained, the
// trailer's totals matching, and the signature good when it has a trailer.
Verification check_recording(const std::string& file, const std::vector<PublicKey>& known,
                             const std::string& what) {
  const ParsedRecording parsed = parse(file);
  const std::optional<PublicKey> key = key_named(parsed.header, known);
  Verification v = verify(parsed, key);
  const bool complete_and_signed = v.complete && v.signature_checked;
  const bool incomplete_but_whole = v.intact && !parsed.trailer && !parsed.truncated;
  if (!complete_and_signed && !incomplete_but_whole) {
    throw RecordingError(what + (v.problem.empty()
                                     ? " is not signed by a known node key (" +
                                           inert_line(parsed.header.node_key_fingerprint) + ")"
                                     : ": " + v.problem));
  }
  return v;
}

}  // namespace

RecordingStore::Compaction compact_recording(pqxx::work& tx, std::int64_t session_id,
                                             const std::vector<PublicKey>& known_keys,
                                             const ArchiveOptions& options) {
  using Compaction = RecordingStore::Compaction;
  const std::string name = "the recording of session " + std::to_string(session_id);
  const pqxx::result row = tx.exec_params(
      "SELECT state, format_version, archived_at IS NOT NULL, header, trailer, raw_bytes "
      "FROM recordings WHERE session_id = $1 FOR UPDATE",
      session_id);
  if (row.empty()) {
    throw RecordingError("no recording is stored for session " + std::to_string(session_id));
  }
  const auto state = row[0][0].as<std::string>();
  const auto version = row[0][1].as<std::uint32_t>();
  if (state == "recording") return Compaction{false, "still being recorded", 0, 0, 0, 0, 0};
  if (row[0][2].as<bool>()) return Compaction{false, "archived already", 0, 0, 0, 0, 0};
  if (version < detail::kFirstVersionWithContentHash) {
    return Compaction{false,
                      "format " + std::to_string(version) +
                          " chains its compressed chunk records, so it is kept as it was stored",
                      0,
                      0,
                      0,
                      0,
                      0};
  }
  const std::string live = load_recording(tx, session_id);
  const Verification before = check_recording(live, known_keys, name);
  ArchiveOptions chosen = options;
  const auto raw_bytes = row[0][5].as<std::uint64_t>();
  if (raw_bytes > options.high_level_up_to)
    chosen.level = std::min(options.level, options.middle_level);
  if (raw_bytes > options.middle_level_up_to)
    chosen.level = std::min(options.level, options.large_level);
  ArchivedRecording archive = to_archive_form(RecordStream::over(live), chosen);

  Compaction done{true,
                  "",
                  archive.chunks,
                  archive.segments.size(),
                  archive.raw_bytes,
                  0,
                  archive.stored_bytes};
  done.bytes_before = tx.exec_params(
                            "SELECT coalesce(sum(length(record)), 0) FROM recording_chunks "
                            "WHERE session_id = $1",
                            session_id)[0][0]
                          .as<std::uint64_t>();
  for (const ArchivedSegment& segment : archive.segments) {
    tx.exec_params(
        "INSERT INTO recording_segments (session_id, first_seq, chunk_count, first_us, last_us, "
        "record) VALUES ($1, $2, $3, $4, $5, $6)",
        session_id, as_bigint(segment.first_seq), as_bigint(segment.chunk_count),
        as_bigint(segment.first_us), as_bigint(segment.last_us), bytes(segment.record));
  }
  // Read back what the database now holds and check it as an auditor would, against the chain
  // the live form had: only then do the chunk rows go.
  std::string stored = detail::file_prefix(version) + pqxx::binarystring(row[0][3]).str();
  for (const pqxx::row& segment :
       tx.exec_params("SELECT record FROM recording_segments WHERE session_id = $1 "
                      "ORDER BY first_seq",
                      session_id)) {
    stored += pqxx::binarystring(segment[0]).str();
  }
  if (!row[0][4].is_null()) stored += pqxx::binarystring(row[0][4]).str();
  const Verification after = check_recording(stored, known_keys, name + " once archived");
  if (stored != archive.file || after.chain_head != before.chain_head ||
      after.chunks_checked != before.chunks_checked) {
    throw RecordingError(name +
                         ": the archive read back does not hold the same chain; the "
                         "chunks are kept");
  }
  tx.exec_params(
      "UPDATE recordings SET archived_at = now(), compressed_bytes = $2 WHERE session_id = $1",
      session_id, as_bigint(archive.stored_bytes));
  const pqxx::result removed =
      tx.exec_params("DELETE FROM recording_chunks WHERE session_id = $1", session_id);
  if (static_cast<std::uint64_t>(removed.affected_rows()) != archive.chunks) {
    throw RecordingError(name + ": " + std::to_string(removed.affected_rows()) +
                         " chunk rows where " + std::to_string(archive.chunks) +
                         " were archived; the chunks are kept");
  }
  return done;
}

std::vector<std::int64_t> recordings_to_compact(pqxx::work& tx, std::size_t limit) {
  std::vector<std::int64_t> ids;
  for (const pqxx::row& row : tx.exec_params(
           "SELECT session_id FROM recordings WHERE state <> 'recording' AND format_version >= 4 "
           "AND archived_at IS NULL ORDER BY session_id LIMIT $1",
           static_cast<std::int64_t>(limit))) {
    ids.push_back(row[0].as<std::int64_t>());
  }
  return ids;
}

RecordingStore::Compaction PostgresRecordingStore::compact(std::int64_t session_id,
                                                           const std::vector<PublicKey>& known_keys,
                                                           const ArchiveOptions& options) {
  return in_transaction(
      [&](pqxx::work& tx) { return compact_recording(tx, session_id, known_keys, options); });
}

std::optional<RecordingSummary> find_recording(pqxx::work& tx, std::int64_t session_id) {
  const pqxx::result row = tx.exec_params(
      "SELECT state, coalesce(incomplete_reason, ''), chunk_count, event_count, raw_bytes, "
      "compressed_bytes, duration_us, header, format_version, archived_at IS NOT NULL "
      "FROM recordings WHERE session_id = $1",
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
  s.format_version = row[0][8].as<std::uint32_t>();
  s.archived = row[0][9].as<bool>();
  const std::string header = pqxx::binarystring(row[0][7]).str();
  s.header = header_from_json(std::string_view(header).substr(detail::kRecordPrefixSize));
  return s;
}

}  // namespace portcullis::recorder
