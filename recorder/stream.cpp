// Reading a recording record by record (RecordStream) and checking it as it is read
// (StreamVerifier): what lets the auditor's tools handle a recording of any size in bounded
// memory. parse() (reader.cpp) is the same reading, keeping every chunk.
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

void parse_chunk(std::string_view record, std::size_t offset, Chunk& c) {
  detail::ByteReader in(record.substr(detail::kRecordPrefixSize), "chunk record");
  c.seq = in.u64();
  c.first_us = in.u64();
  c.last_us = in.u64();
  c.event_count = in.u32();
  c.raw_size = in.u32();
  c.prev_hash = hash_from(in.take(c.prev_hash.size()));
  c.record.assign(record);
  c.hash = detail::sha256(record);
  c.offset = offset;
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
    header_hash = detail::sha256(header_record);
    first_chunk = at + header_record.size();
    rewind(first_chunk);
  }

  void rewind(std::size_t offset) {
    pos = offset;
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

  bool next_chunk(Chunk& chunk) {
    if (stopped) return false;
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
    try {
      if (type == static_cast<std::uint8_t>(RecordType::chunk)) {
        parse_chunk(record, pos, chunk);
        last_seq = chunk.seq;
      } else if (type == static_cast<std::uint8_t>(RecordType::trailer)) {
        trailer = parse_trailer(record);
      } else {
        return stop(false, next_name() + where + ": record type " + std::to_string(type) +
                               " is not a chunk or trailer");
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
std::size_t RecordStream::position() const { return state_->pos; }
void RecordStream::seek(std::size_t offset) { state_->rewind(offset); }

// ---- StreamVerifier ------------------------------------------------------------------------

StreamVerifier::StreamVerifier(const RecordStream& stream) : head_(stream.header_hash()) {}

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
  head_ = c.hash;
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
  if (t.event_count != events_ || t.raw_bytes != raw_ || t.compressed_bytes != compressed_ ||
      t.duration_us != last_us_) {
    return broken("trailer altered: its totals do not match the chunks");
  }
  const std::string& named = stream.header().node_key_fingerprint;
  for (const PublicKey& key : known_keys) {
    if (fingerprint(key) != named) continue;
    if (check_trailer_signature(t, key)) return {true, ""};
    return broken("trailer altered: the signature does not verify with " + named);
  }
  return broken("not signed by a known node key (the recording names " + inert_line(named) + ")");
}

}  // namespace portcullis::recorder
