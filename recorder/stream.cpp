// Reading a recording record by record (RecordStream) and checking it as it is read
// (StreamVerifier): what lets the auditor's tools handle a recording of any size in bounded
// memory. parse() (reader.cpp) is the same reading, keeping every chunk.
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>
#include <limits>

#include "common/common.h"
#include "recorder/internal.h"
#include "recorder/keys.h"

namespace portcullis::recorder {
namespace {

using detail::RecordType;

// Where a stream's bytes come from. Shared by the streams reopened from one another.
class Source {
 public:
  virtual ~Source() = default;
  virtual std::size_t size() const = 0;
  // Up to `n` bytes at `offset` (fewer only at the end), in `buffer` or pointing into memory.
  virtual std::string_view read(std::size_t offset, std::size_t n, std::string& buffer) const = 0;
};

class MemorySource : public Source {
 public:
  explicit MemorySource(std::string_view bytes) : bytes_(bytes) {}
  explicit MemorySource(std::string owned) : owned_(std::move(owned)), bytes_(owned_) {}
  std::size_t size() const override { return bytes_.size(); }
  std::string_view read(std::size_t offset, std::size_t n, std::string&) const override {
    return offset >= bytes_.size() ? std::string_view() : bytes_.substr(offset, n);
  }

 private:
  std::string owned_;
  std::string_view bytes_;
};

class FileSource : public Source {
 public:
  explicit FileSource(const std::filesystem::path& file)
      : fd_(::open(file.c_str(), O_RDONLY | O_CLOEXEC)) {
    struct stat info {};
    if (!fd_ || ::fstat(fd_.get(), &info) != 0) {
      throw RecordingError("cannot read " + file.string() + ": " + std::strerror(errno));
    }
    if (!S_ISREG(info.st_mode)) throw RecordingError(file.string() + " is not a regular file");
    // The size when opened: a spool file still being written is read up to there.
    size_ = static_cast<std::size_t>(info.st_size);
  }
  std::size_t size() const override { return size_; }
  std::string_view read(std::size_t offset, std::size_t n, std::string& buffer) const override {
    n = offset >= size_ ? 0 : std::min(n, size_ - offset);
    buffer.resize(n);
    std::size_t done = 0;
    while (done < n) {
      const ssize_t got =
          ::pread(fd_.get(), buffer.data() + done, n - done, static_cast<off_t>(offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0)
        throw RecordingError(std::string("cannot read the recording: ") + std::strerror(errno));
      if (got == 0) break;  // the file shrank: what is missing reads as a torn record
      done += static_cast<std::size_t>(got);
    }
    buffer.resize(done);
    return buffer;
  }

 private:
  UniqueFd fd_;
  std::size_t size_ = 0;
};

Hash hash_from(std::string_view bytes) {
  Hash hash{};
  std::memcpy(hash.data(), bytes.data(), hash.size());
  return hash;
}

std::string chunk_name(std::uint64_t seq) { return "chunk " + std::to_string(seq); }

// A decompressed segment larger than this is damage: the node packs at most kSegmentBytes, or
// one chunk, and a chunk never comes near it.
constexpr std::uint64_t kMaxSegmentRaw = 256u << 20;

void parse_chunk(std::string_view record, std::size_t offset, std::uint32_t version, Chunk& c) {
  detail::ByteReader in(record.substr(detail::kRecordPrefixSize), "chunk record");
  c.seq = in.u64();
  c.first_us = in.u64();
  c.last_us = in.u64();
  c.event_count = in.u32();
  c.raw_size = in.u32();
  c.prev_hash = hash_from(in.take(c.prev_hash.size()));
  c.record.assign(record);
  // Version 4 hashes the content: ChunkDecoder does, once it has decompressed the frame.
  c.hashed = version < detail::kFirstVersionWithContentHash;
  c.hash = c.hashed ? detail::sha256(record) : Hash{};
  c.offset = offset;
  c.index = 0;
  c.content.clear();
  c.from_segment = false;
}

std::string segment_name(std::uint64_t first_seq, std::uint64_t count) {
  return "segment covering chunks " + std::to_string(first_seq) + ".." +
         std::to_string(first_seq + count - 1);
}

struct ZstdDCtxFree {
  void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};

// A segment record (archive form, version 4), decompressed, its chunks checked and hashed.
struct Segment {
  std::size_t offset = 0, end = 0;  // of the record in the file
  std::string content;              // every chunk's events, in order
  std::vector<Chunk> chunks;        // without content; `content` holds it, in order
  std::vector<std::size_t> starts;  // where each chunk's events start in `content`
  std::size_t next = 0;             // the next chunk to hand out
  std::string damage;               // found in it, reported after its chunks
};

// Reads a segment record; throws RecordingError with the line to report ("segment covering
// chunks 3..9 altered: ...", "chunk 5 altered: ...").
Segment read_segment(std::string_view record, std::size_t offset, std::uint32_t version) {
  Segment s;
  s.offset = offset;
  s.end = offset + record.size();
  detail::ByteReader in(record.substr(detail::kRecordPrefixSize), "segment record");
  const std::uint64_t first_seq = in.u64();
  const Hash prev_hash = hash_from(in.take(32));
  const Hash seal = hash_from(in.take(32));
  const std::string_view sealed = record.substr(detail::kRecordPrefixSize + in.position());
  const std::uint64_t count = in.varint();
  // Every table entry takes at least 4 bytes: a larger count is damage, not a big segment.
  if (count == 0 || count > in.remaining() / 4 ||
      first_seq > std::numeric_limits<std::uint64_t>::max() - count) {
    throw RecordingError("segment at offset " + std::to_string(offset) +
                         " altered: impossible chunk count " + std::to_string(count));
  }
  const std::string name = segment_name(first_seq, count);
  const auto fail = [&](const std::string& why) {
    throw RecordingError(name + " altered: " + why);
  };
  std::uint64_t total = 0, last_us = 0;
  s.chunks.resize(count);
  try {
    for (std::uint64_t i = 0; i < count; ++i) {
      Chunk& c = s.chunks[i];
      const std::uint64_t gap = in.varint(), span = in.varint();
      const std::uint64_t events = in.varint(), raw = in.varint();
      c.seq = first_seq + i;
      c.first_us = (i == 0 ? 0 : last_us) + gap;
      c.last_us = c.first_us + span;
      if (c.first_us < gap || c.last_us < c.first_us || events == 0 ||
          events > std::numeric_limits<std::uint32_t>::max() || raw == 0 || raw > kMaxSegmentRaw) {
        fail("the table entry of chunk " + std::to_string(c.seq) + " is impossible");
      }
      c.event_count = static_cast<std::uint32_t>(events);
      c.raw_size = static_cast<std::uint32_t>(raw);
      c.offset = offset;
      c.index = static_cast<std::uint32_t>(i);
      c.from_segment = true;
      c.hashed = true;
      last_us = c.last_us;
      total += raw;
      if (total > kMaxSegmentRaw) fail("its chunks hold more than 256 MiB");
    }
  } catch (const RecordingError& e) {
    if (std::string_view(e.what()).starts_with(name)) throw;
    fail(std::string("its table cannot be read: ") + e.what());
  }
  const std::string_view frame = in.take(in.remaining());
  if (ZSTD_findFrameCompressedSize(frame.data(), frame.size()) != frame.size() ||
      ZSTD_getFrameContentSize(frame.data(), frame.size()) != total) {
    fail("its frame is not one zstd frame of " + std::to_string(total) + " bytes");
  }
  std::unique_ptr<ZSTD_DCtx, ZstdDCtxFree> dctx(ZSTD_createDCtx());
  if (!dctx) throw std::bad_alloc();
  s.content.resize(total);
  const std::size_t n =
      ZSTD_decompressDCtx(dctx.get(), s.content.data(), total, frame.data(), frame.size());
  if (ZSTD_isError(n) || n != total) {
    fail(std::string("its frame does not decompress") +
         (ZSTD_isError(n) ? std::string(": ") + ZSTD_getErrorName(n) : std::string()));
  }
  // The chain through the segment, each chunk's events checked: a chunk whose events do not fit
  // its table entry is named; any other change shows as the segment's end hash not matching.
  Hash head = prev_hash;
  std::size_t at = 0;
  for (Chunk& c : s.chunks) {
    const std::string_view events = std::string_view(s.content).substr(at, c.raw_size);
    try {
      detail::check_events(events, c, version);
    } catch (const RecordingError& e) {  // "chunk S: why"
      const std::string what = e.what();
      const std::size_t colon = what.find(':');
      throw RecordingError(what.substr(0, colon) + " altered" + what.substr(colon));
    }
    c.prev_hash = head;
    c.hash = detail::content_hash(
        detail::chunk_fixed_fields(c.seq, c.first_us, c.last_us, c.event_count, c.raw_size, head),
        events);
    head = c.hash;
    s.starts.push_back(at);
    at += c.raw_size;
  }
  // Reported once its chunks are handed out: a changed prev_hash shows first as the link it
  // breaks (the verifiers name the chunk that does not follow), anything else as this. The seal
  // covers the chain's end (hence every chunk field and event) and the table and frame bytes
  // themselves, so even a change zstd would not notice (an unused bit) is found.
  if (detail::segment_seal(head, sealed) != seal) {
    s.damage = name + " altered: its bytes do not match its seal";
  }
  return s;
}

Trailer parse_trailer(std::string_view record) {
  detail::ByteReader in(record.substr(detail::kRecordPrefixSize), "trailer record");
  Trailer t;
  t.chain_head = hash_from(in.take(t.chain_head.size()));
  t.chunk_count = in.u64();
  t.event_count = in.u64();
  t.raw_bytes = in.u64();
  t.compressed_bytes = in.u64();
  t.duration_us = in.u64();
  t.end_reason = std::string(in.take(in.u16()));
  const std::string_view signature = in.take(t.signature.size());
  std::memcpy(t.signature.data(), signature.data(), t.signature.size());
  if (in.remaining() != 0) throw RecordingError("trailer record has extra bytes");
  t.record = std::string(record);
  return t;
}

}  // namespace

struct RecordStream::State {
  std::shared_ptr<const Source> source;
  std::uint32_t version = 0;
  Header header;
  std::string header_record;
  Hash header_hash{};
  std::size_t first_chunk = 0;  // where the record after the header starts
  std::string buffer;           // the record being read (file sources)

  std::size_t pos = 0;
  std::optional<std::uint64_t> last_seq;  // of the last chunk read, for messages
  std::optional<Segment> segment;         // the segment record being handed out, chunk by chunk
  std::uint32_t skip = 0;                 // chunks of the next segment to pass over (seek)
  std::optional<bool> archive_form;       // segments (true) or chunk records (false) so far
  std::string pending_damage;             // a segment's, once its chunks are handed out
  std::size_t pending_offset = 0;
  bool stopped = false;
  std::optional<Trailer> trailer;
  bool truncated = false, torn_trailer = false;
  std::string damage;
  std::size_t stop_offset = 0, valid_bytes = 0;

  // Reads the file prefix and the header record.
  void open() {
    std::string scratch;
    const std::string_view prefix = source->read(0, detail::kFilePrefixSize, scratch);
    if (prefix.size() < detail::kFilePrefixSize ||
        prefix.substr(0, detail::kMagic.size()) != detail::kMagic) {
      throw RecordingError("not a Portcullis recording (the file does not start with its magic)");
    }
    version = detail::ByteReader(prefix.substr(detail::kMagic.size(), 4), "version").u32();
    if (version < 1 || version > kFormatVersion) {
      throw RecordingError("recording format version " + std::to_string(version) +
                           " is not supported (this program reads versions 1 to " +
                           std::to_string(kFormatVersion) + ")");
    }
    const std::size_t at = detail::kFilePrefixSize;
    detail::ByteReader head(source->read(at, detail::kRecordPrefixSize, scratch), "header record");
    const std::uint8_t type = head.u8();
    const std::uint32_t length = head.u32();
    if (type != static_cast<std::uint8_t>(RecordType::header) || length > detail::kMaxBodySize ||
        source->size() - at - detail::kRecordPrefixSize < length) {
      throw RecordingError("the recording has no complete header record");
    }
    header_record = std::string(source->read(at, detail::kRecordPrefixSize + length, scratch));
    header = header_from_json(std::string_view(header_record).substr(detail::kRecordPrefixSize));
    // From version 4 the chain means something else: the header (which H0 covers) must name
    // the same version as the file, so neither can be changed alone.
    if ((version >= detail::kFirstVersionWithContentHash ||
         header.format >= detail::kFirstVersionWithContentHash) &&
        header.format != version) {
      throw RecordingError("the file says format version " + std::to_string(version) +
                           " and its header " + std::to_string(header.format) +
                           ": one of them was altered");
    }
    header_hash = detail::sha256(header_record);
    first_chunk = at + header_record.size();
    rewind(first_chunk);
  }

  void rewind(std::size_t offset, std::uint32_t index = 0) {
    pos = offset;
    segment.reset();
    pending_damage.clear();
    skip = index;
    archive_form.reset();
    valid_bytes = offset;
    stopped = false;
    trailer.reset();
    truncated = torn_trailer = false;
    damage.clear();
    stop_offset = 0;
  }

  bool stop(bool torn, std::string why) {
    stopped = true;
    truncated = torn;
    damage = std::move(why);
    stop_offset = pos;
    return false;
  }

  std::string next_name() const { return chunk_name(last_seq ? *last_seq + 1 : 0); }

  // Hands out the next chunk of the current segment, if any is left.
  bool segment_chunk(Chunk& chunk) {
    if (!segment) return false;
    const bool found = segment->next < segment->chunks.size();
    if (found) {
      const std::size_t i = segment->next++;
      chunk = segment->chunks[i];
      chunk.content.assign(std::string_view(segment->content)
                               .substr(segment->starts[i], segment->chunks[i].raw_size));
      last_seq = chunk.seq;
    }
    if (segment->next >= segment->chunks.size()) {  // handed out: the next record is next
      if (!segment->damage.empty()) {
        pending_damage = std::move(segment->damage);
        pending_offset = segment->offset;
      } else {
        pos = segment->end;
        valid_bytes = pos;
      }
      segment.reset();
    }
    return found;
  }

  // A file holds chunk records (live form) or segment records (archive form), never both.
  bool form_mixed(bool archive) {
    if (!archive_form) archive_form = archive;
    return *archive_form != archive;
  }

  bool next_chunk(Chunk& chunk) {
    if (stopped) return false;
    if (segment_chunk(chunk)) return true;
    if (!pending_damage.empty()) {
      pos = pending_offset;
      return stop(false, std::move(pending_damage));
    }
    const std::size_t size = source->size();
    if (pos >= size) {
      stopped = true;
      return false;
    }
    if (trailer) return stop(false, "data after the trailer at offset " + std::to_string(pos));
    const std::string where = " (record at offset " + std::to_string(pos) + ")";
    const std::string_view prefix_bytes = source->read(pos, detail::kRecordPrefixSize, buffer);
    if (prefix_bytes.size() < detail::kRecordPrefixSize) return stop(true, "");
    detail::ByteReader prefix(prefix_bytes, "record");
    const std::uint8_t type = prefix.u8();
    const std::uint32_t length = prefix.u32();
    if (length > detail::kMaxBodySize) {
      return stop(false,
                  next_name() + where + ": impossible record length " + std::to_string(length));
    }
    if (size - pos - detail::kRecordPrefixSize < length) {
      torn_trailer = type == static_cast<std::uint8_t>(RecordType::trailer);
      return stop(true, "");
    }
    const std::size_t record_size = detail::kRecordPrefixSize + length;
    const std::string_view record = source->read(pos, record_size, buffer);
    if (record.size() < record_size) return stop(true, "");
    const bool segments_known = version >= detail::kFirstVersionWithContentHash;
    try {
      if (type == static_cast<std::uint8_t>(RecordType::chunk)) {
        if (form_mixed(false)) {
          return stop(false, next_name() + where + ": a chunk record among segment records");
        }
        parse_chunk(record, pos, version, chunk);
        last_seq = chunk.seq;
      } else if (type == static_cast<std::uint8_t>(RecordType::segment) && segments_known) {
        if (form_mixed(true)) {
          return stop(false, next_name() + where + ": a segment record among chunk records");
        }
        try {
          segment = read_segment(record, pos, version);
        } catch (const RecordingError& e) {
          return stop(false, e.what());
        }
        segment->next = std::min<std::size_t>(skip, segment->chunks.size());
        skip = 0;
        if (segment_chunk(chunk)) return true;
        return next_chunk(chunk);  // a seek past its last chunk: the record after it
      } else if (type == static_cast<std::uint8_t>(RecordType::trailer)) {
        trailer = parse_trailer(record);
      } else {
        return stop(false, next_name() + where + ": record type " + std::to_string(type) +
                               " is not a chunk" + (segments_known ? ", segment" : "") +
                               " or trailer");
      }
    } catch (const RecordingError& e) {
      return stop(false, next_name() + where + ": " + e.what());
    }
    pos += record_size;
    valid_bytes = pos;
    // After the trailer, go on only to say whether anything follows it.
    return !trailer || next_chunk(chunk);
  }
};

RecordStream::RecordStream(std::unique_ptr<State> state) : state_(std::move(state)) {}
RecordStream::RecordStream(RecordStream&&) noexcept = default;
RecordStream& RecordStream::operator=(RecordStream&&) noexcept = default;
RecordStream::~RecordStream() = default;

RecordStream RecordStream::open_file(const std::filesystem::path& file) {
  auto state = std::make_unique<State>();
  state->source = std::make_shared<FileSource>(file);
  state->open();
  return RecordStream(std::move(state));
}

RecordStream RecordStream::over(std::string_view bytes) {
  auto state = std::make_unique<State>();
  state->source = std::make_shared<MemorySource>(bytes);
  state->open();
  return RecordStream(std::move(state));
}

RecordStream RecordStream::own(std::string bytes) {
  auto state = std::make_unique<State>();
  state->source = std::make_shared<MemorySource>(std::move(bytes));
  state->open();
  return RecordStream(std::move(state));
}

RecordStream RecordStream::reopen() const {
  auto state = std::make_unique<State>();
  state->source = state_->source;
  state->version = state_->version;
  state->header = state_->header;
  state->header_record = state_->header_record;
  state->header_hash = state_->header_hash;
  state->first_chunk = state_->first_chunk;
  state->rewind(state->first_chunk);
  return RecordStream(std::move(state));
}

std::uint32_t RecordStream::version() const { return state_->version; }
const Header& RecordStream::header() const { return state_->header; }
const std::string& RecordStream::header_record() const { return state_->header_record; }
const Hash& RecordStream::header_hash() const { return state_->header_hash; }
bool RecordStream::next_chunk(Chunk& chunk) { return state_->next_chunk(chunk); }
const std::optional<Trailer>& RecordStream::trailer() const { return state_->trailer; }
bool RecordStream::truncated() const { return state_->truncated; }
bool RecordStream::torn_trailer() const { return state_->torn_trailer; }
const std::string& RecordStream::damage() const { return state_->damage; }
std::size_t RecordStream::stop_offset() const { return state_->stop_offset; }
std::size_t RecordStream::valid_bytes() const { return state_->valid_bytes; }
std::size_t RecordStream::position() const {
  return state_->segment ? state_->segment->offset : state_->pos;
}
std::uint32_t RecordStream::position_index() const {
  return state_->segment ? static_cast<std::uint32_t>(state_->segment->next) : 0;
}
void RecordStream::seek(std::size_t offset, std::uint32_t index) { state_->rewind(offset, index); }

// ---- StreamVerifier ------------------------------------------------------------------------

StreamVerifier::StreamVerifier(const RecordStream& stream)
    : version_(stream.version()), head_(stream.header_hash()) {
  if (version_ >= detail::kFirstVersionWithContentHash) {
    decoder_ = std::make_unique<ChunkDecoder>(version_);
  }
}

StreamVerifier::~StreamVerifier() = default;

void StreamVerifier::add(const Chunk& c) {
  if (!problem_.empty()) return;
  const std::string previous = chunks_ == 0 ? "the header" : chunk_name(chunks_ - 1);
  if (c.prev_hash != head_) {
    problem_ =
        c.seq == chunks_
            ? chunk_name(c.seq) + " altered: its previous-chunk hash does not match " + previous
            : chunk_name(chunks_) + " missing or out of order: " + chunk_name(c.seq) + " follows " +
                  previous;
    return;
  }
  if (c.seq != chunks_) {
    problem_ = chunk_name(chunks_) + " altered: its sequence number reads " + std::to_string(c.seq);
    return;
  }
  if (c.hashed) {
    head_ = c.hash;
  } else {
    // Version 4 chunk record: its hash covers its content, so its frame is decompressed.
    try {
      head_ = decoder_->skip(c);
    } catch (const RecordingError& e) {
      const std::string what = e.what();
      problem_ = what.substr(0, what.find(':')) + " altered" + what.substr(what.find(':'));
      return;
    }
  }
  ++chunks_;
  events_ += c.event_count;
  raw_ += c.raw_size;
  compressed_ += c.frame().size();
  last_us_ = c.last_us;
}

Integrity StreamVerifier::finish(const RecordStream& stream,
                                 const std::vector<PublicKey>& known_keys) const {
  const auto broken = [](std::string problem) { return Integrity{false, std::move(problem)}; };
  if (!problem_.empty()) return broken(problem_);
  if (!stream.damage().empty()) return broken(stream.damage());
  const std::string last = chunks_ == 0 ? "the header" : chunk_name(chunks_ - 1);
  if (stream.truncated()) {
    return broken("truncated after " + last + ": " +
                  (stream.torn_trailer() ? "the trailer" : chunk_name(chunks_)) + " at offset " +
                  std::to_string(stream.stop_offset()) + " is cut off");
  }
  if (!stream.trailer()) return broken("incomplete: no trailer after " + last);
  const Trailer& t = *stream.trailer();
  if (t.chunk_count > chunks_) {
    return broken(chunk_name(chunks_) + " missing: the trailer counts " +
                  std::to_string(t.chunk_count) + " chunks, the recording has " +
                  std::to_string(chunks_));
  }
  if (t.chunk_count < chunks_ || t.chain_head != head_) {
    return broken("trailer altered: its chain head does not match " + last);
  }
  const std::uint64_t compressed =
      stream.version() >= detail::kFirstVersionWithContentHash ? 0 : compressed_;
  if (t.event_count != events_ || t.raw_bytes != raw_ || t.compressed_bytes != compressed ||
      t.duration_us != last_us_) {
    return broken("trailer altered: its totals do not match the chunks");
  }
  const std::string& named = stream.header().node_key_fingerprint;
  for (const PublicKey& key : known_keys) {
    if (fingerprint(key) != named) continue;
    if (check_trailer_signature(t, key, stream.version())) return {true, ""};
    return broken("trailer altered: the signature does not verify with " + named);
  }
  return broken("not signed by a known node key (the recording names " + inert_line(named) + ")");
}

}  // namespace portcullis::recorder
