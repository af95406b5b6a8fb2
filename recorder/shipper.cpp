// Moving spool files into PostgreSQL, and reading stored recordings back.
//
// The shipper stores only what verify() accepts from the spool: the chunks that chain from the
// header in order, and the trailer when it checks. It deletes the spool file only after reading
// the recording back from the database and finding the same bytes, intact.
#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

#include "recorder/internal.h"

namespace portcullis::recorder {
namespace {

namespace fs = std::filesystem;

// A timestamptz from whole microseconds since the epoch; float8 is exact below 2^53 µs.
constexpr const char* kMicrosToTime =
    "(timestamptz 'epoch' + $%d::bigint::float8 * interval '1 microsecond')";

std::string time_param(int index) {
  char text[80];
  std::snprintf(text, sizeof text, kMicrosToTime, index);
  return text;
}

std::string read_spool(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw RecordingError("cannot read " + path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
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

void remove_spool(const fs::path& spool) {
  fs::remove(spool);
  const int dir = ::open(spool.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

ShipResult ship(pqxx::connection& conn, const fs::path& spool, bool crashed,
                const std::optional<PublicKey>& public_key, std::string& error) {
  const std::string file = read_spool(spool);
  const ParsedRecording r = parse(file);
  const Verification v = verify(r, public_key);
  const std::int64_t id = r.header.session_id;
  {
    pqxx::work tx(conn);
    const std::string state = lock_recording(tx, r);
    if (state == "recording") {
      store_chunks(tx, r, v.chunks_checked);
      if (v.complete) {
        update_recording(tx, r, v.chunks_checked, "complete", std::nullopt, r.trailer->record);
      } else if (crashed) {
        update_recording(tx, r, v.chunks_checked, "incomplete",
                         "the node stopped before the session ended: " + v.problem, std::nullopt);
      } else {
        update_recording(tx, r, v.chunks_checked, "recording", std::nullopt, std::nullopt);
      }
    }
    tx.commit();
  }
  if (!v.intact) {
    error = spool.string() + ": damaged, stored up to chunk " + std::to_string(v.chunks_checked) +
            " and kept: " + v.problem;
    return ShipResult::failed;
  }
  if (!v.complete && !crashed) {
    error = spool.string() + ": still being recorded (" + v.problem + ")";
    return ShipResult::partial;
  }
  pqxx::work tx(conn);
  const std::string stored = load_recording(tx, id);
  tx.commit();
  const Verification check = verify(parse(stored), public_key);
  if (stored != std::string_view(file).substr(0, r.valid_bytes) || !check.intact) {
    error = spool.string() + ": the database does not hold the same recording; spool kept" +
            (check.problem.empty() ? "" : " (" + check.problem + ")");
    return ShipResult::failed;
  }
  remove_spool(spool);
  return ShipResult::shipped;
}

}  // namespace

ShipResult ship_spool_file(pqxx::connection& conn, const fs::path& spool, bool crashed,
                           const std::optional<PublicKey>& public_key, std::string& error) {
  try {
    return ship(conn, spool, crashed, public_key, error);
  } catch (const std::exception& e) {
    // Database errors, an unreadable file, a header clash: all leave the spool in place.
    error = spool.string() + ": " + e.what();
    return ShipResult::failed;
  }
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
