// SpoolWriter: one spool file per session, every record made durable before the call returns.
#include "recorder/writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <optional>
#include <utility>
#include <vector>

#include "common/common.h"
#include "recorder/internal.h"

namespace portcullis::recorder {
namespace {

namespace fs = std::filesystem;

std::error_code last_error() { return {errno, std::generic_category()}; }

std::error_code write_at(int fd, std::string_view bytes, off_t offset) {
  while (!bytes.empty()) {
    const ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return last_error();
    bytes.remove_prefix(static_cast<std::size_t>(n));
    offset += n;
  }
  return {};
}

std::error_code sync_directory(const fs::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd || ::fsync(fd.get()) != 0) return last_error();
  return {};
}

// The compression context and its output space belong to the thread, not to the session: every
// chunk is its own frame and its history prefix is given with each call, so any context will do,
// and a thousand quiet sessions do not each keep a zstd workspace (hundreds of KiB) alive.
struct Compressor {
  detail::CCtx context;
  std::vector<char> frame;  // grows to the largest bound seen, and is never zero-filled again
};

// One chunk compressed with the thread's context and the given history prefix (valid until the
// next call); nullopt on failure.
std::optional<std::string_view> compress(std::string_view raw, std::string_view prefix) {
  thread_local Compressor compressor;
  if (!compressor.context) compressor.context = detail::chunk_context(detail::kZstdLevel);
  if (!compressor.context) return std::nullopt;
  return detail::compress_frame(compressor.context.get(), compressor.frame, raw, prefix);
}

}  // namespace

struct SpoolWriter::State {
  State(Header h, const SigningKey& k) : header(std::move(h)), key(k) {}

  Header header;
  std::string header_record;
  SigningKey key;
  fs::path path;
  UniqueFd fd;
  off_t size = 0;  // bytes durable so far; a failed write is cut back to this
  // The chain and the totals; restored as a whole when a batch fails.
  struct Counters {
    Hash prev_hash{};
    std::uint64_t chunks = 0, events = 0, raw = 0, compressed = 0, last_us = 0;
    std::string history;  // the raw bytes small chunks are compressed against (format v2)
  };
  Counters counters;

  // Encodes and compresses one chunk at the end of `records`, advancing the chain; nothing is
  // written to the file.
  std::error_code chunk_record(const ChunkBuffer& chunk, std::string& records);
  // The chunk record chunk_record() just encoded, as a reader would parse it from the file.
  Chunk written_chunk(const ChunkBuffer& chunk, std::string_view record, std::size_t offset,
                      const Hash& prev_hash) const;

  // Writes `record` after what was written before and syncs it (unless the caller will); on
  // failure cuts the file back, so the same record may be written again and no torn record sits
  // between two good ones.
  std::error_code append_record(std::string_view record, Sync sync = Sync::now) {
    if (!fd) return std::make_error_code(std::errc::bad_file_descriptor);
    std::error_code error = write_at(fd.get(), record, size);
    if (!error && sync == Sync::now && ::fdatasync(fd.get()) != 0) error = last_error();
    if (error) {
      // Best effort: if even this fails, a reader sees a torn or extra record and stops there.
      [[maybe_unused]] const int ignored = ::ftruncate(fd.get(), size);
      return error;
    }
    size += static_cast<off_t>(record.size());
    return {};
  }
};

SpoolWriter::SpoolWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}
SpoolWriter::SpoolWriter(SpoolWriter&&) noexcept = default;
SpoolWriter& SpoolWriter::operator=(SpoolWriter&&) noexcept = default;
SpoolWriter::~SpoolWriter() = default;

std::variant<SpoolWriter, std::error_code> SpoolWriter::create(const fs::path& spool_dir,
                                                               Header header,
                                                               const SigningKey& key) {
  header.node_key_fingerprint = key.fingerprint();
  auto state = std::make_unique<State>(std::move(header), key);
  state->path = spool_dir / (std::to_string(state->header.session_id) + ".pcr");
  state->fd = UniqueFd(
      ::open(state->path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!state->fd) return last_error();

  state->header_record =
      detail::make_record(detail::RecordType::header, header_json(state->header));
  state->counters.prev_hash = detail::sha256(state->header_record);
  std::error_code error = state->append_record(detail::file_prefix() + state->header_record);
  if (!error) error = sync_directory(spool_dir);
  if (error) {
    state->fd.reset();
    ::unlink(state->path.c_str());
    return error;
  }
  return SpoolWriter(std::move(state));
}

std::error_code SpoolWriter::append(const ChunkBuffer& chunk) {
  return append(std::span<const ChunkBuffer>(&chunk, 1));
}

// The records are written one after the other and synced once: with a backlog (a fast stream,
// a slow disk) one fdatasync covers many chunks. On failure the file and the chain go back to
// where they were, so the whole batch may be retried.
std::error_code SpoolWriter::append(std::span<const ChunkBuffer> chunks, Sync sync,
                                    std::vector<Chunk>* written) {
  State& s = *state_;
  if (!s.fd) return std::make_error_code(std::errc::bad_file_descriptor);
  const State::Counters before = s.counters;
  std::string records;
  std::vector<Chunk> encoded;
  for (const ChunkBuffer& chunk : chunks) {
    if (chunk.empty()) continue;
    const std::size_t start = records.size();
    const Hash prev_hash = s.counters.prev_hash;
    if (std::error_code error = s.chunk_record(chunk, records)) {
      s.counters = before;
      return error;
    }
    if (written) {
      encoded.push_back(s.written_chunk(chunk, std::string_view(records).substr(start),
                                        static_cast<std::size_t>(s.size) + start, prev_hash));
    }
  }
  if (records.empty()) return {};
  if (std::error_code error = s.append_record(records, sync)) {
    s.counters = before;
    return error;
  }
  if (written) std::move(encoded.begin(), encoded.end(), std::back_inserter(*written));
  return {};
}

Chunk SpoolWriter::State::written_chunk(const ChunkBuffer& chunk, std::string_view record,
                                        std::size_t offset, const Hash& prev_hash) const {
  Chunk c;
  c.seq = counters.chunks - 1;
  c.first_us = chunk.first_us();
  c.last_us = chunk.last_us();
  c.event_count = chunk.events();
  c.raw_size = static_cast<std::uint32_t>(chunk.size());
  c.prev_hash = prev_hash;
  c.hash = counters.prev_hash;  // chunk_record chained this chunk's content hash
  c.hashed = true;
  c.record.assign(record);
  c.offset = offset;
  return c;
}

std::error_code SpoolWriter::sync() {
  if (!state_->fd) return std::make_error_code(std::errc::bad_file_descriptor);
  if (::fdatasync(state_->fd.get()) != 0) return last_error();
  return {};
}

std::error_code SpoolWriter::State::chunk_record(const ChunkBuffer& chunk, std::string& records) {
  Counters& c = counters;
  const std::optional<std::string_view> frame =
      compress(chunk.bytes(), detail::history_for(c.history, chunk.size()));
  if (!frame) return std::make_error_code(std::errc::not_enough_memory);
  const std::string fixed =
      detail::chunk_fixed_fields(c.chunks, chunk.first_us(), chunk.last_us(), chunk.events(),
                                 static_cast<std::uint32_t>(chunk.size()), c.prev_hash);
  records.push_back(static_cast<char>(detail::RecordType::chunk));
  detail::put_u32(records, static_cast<std::uint32_t>(detail::kChunkFixedSize + frame->size()));
  records.append(fixed);
  records.append(*frame);

  // Version 4: the chain covers the content, hashed from the bytes at hand (no decompression),
  // so the recording may later be recompressed without breaking it.
  c.prev_hash = detail::content_hash(fixed, chunk.bytes());
  ++c.chunks;
  c.events += chunk.events();
  c.raw += chunk.size();
  c.compressed += frame->size();
  c.last_us = chunk.last_us();
  detail::extend_history(c.history, chunk.bytes());
  return {};
}

std::error_code SpoolWriter::finish(const std::string& end_reason) {
  State& s = *state_;
  if (!s.fd) return std::make_error_code(std::errc::bad_file_descriptor);
  std::string body(reinterpret_cast<const char*>(s.counters.prev_hash.data()),
                   s.counters.prev_hash.size());
  // compressed_bytes is 0 from version 4: the stored size depends on the form the recording is
  // kept in (live or archive), so it is not part of the signed evidence.
  for (std::uint64_t total : {s.counters.chunks, s.counters.events, s.counters.raw,
                              std::uint64_t{0}, s.counters.last_us}) {
    detail::put_u64(body, total);
  }
  const std::string reason = end_reason.substr(0, 0xffff);
  detail::put_u16(body, static_cast<std::uint16_t>(reason.size()));
  body.append(reason);
  const Signature signature = s.key.sign(detail::signed_message(body, kFormatVersion));
  body.append(reinterpret_cast<const char*>(signature.data()), signature.size());
  if (std::error_code error =
          s.append_record(detail::make_record(detail::RecordType::trailer, body))) {
    return error;
  }
  s.fd.reset();
  return {};
}

const fs::path& SpoolWriter::path() const { return state_->path; }
const Header& SpoolWriter::header() const { return state_->header; }
const std::string& SpoolWriter::header_record() const { return state_->header_record; }
std::uint64_t SpoolWriter::chunks() const { return state_->counters.chunks; }
std::uint64_t SpoolWriter::events() const { return state_->counters.events; }
std::uint64_t SpoolWriter::raw_bytes() const { return state_->counters.raw; }
std::uint64_t SpoolWriter::compressed_bytes() const { return state_->counters.compressed; }

}  // namespace portcullis::recorder
