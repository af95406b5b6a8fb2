// Converting a version 4 recording between its live form and its archive form. Both read the
// chunks' content through the stream and decoder the verifiers use, and refuse anything that does
// not chain: what is converted is exactly the chain the trailer signed.
#include "recorder/archive.h"

#include "recorder/internal.h"

namespace portcullis::recorder {
namespace {

std::string chunk_name(std::uint64_t seq) { return "chunk " + std::to_string(seq); }

// Hands every chunk of `stream` in order with its content, checking the chain as it goes;
// throws RecordingError when a chunk does not follow, does not decode, or the file is damaged.
template <typename Visit>
void for_each_chunk(RecordStream& stream, Visit visit) {
  if (stream.version() < detail::kFirstVersionWithContentHash) {
    throw RecordingError("format " + std::to_string(stream.version()) +
                         " chains the compressed chunk records, so it cannot be recompressed "
                         "(only format 4 and later recordings have an archive form)");
  }
  ChunkDecoder decoder(stream.version());
  Hash head = stream.header_hash();
  std::uint64_t expected = 0;
  for (Chunk chunk; stream.next_chunk(chunk); ++expected) {
    if (chunk.seq != expected || chunk.prev_hash != head) {
      throw RecordingError(chunk_name(expected) + " does not follow " +
                           (expected == 0 ? "the header" : chunk_name(expected - 1)) +
                           ": verify the recording");
    }
    const std::string_view content = decoder.content(chunk);
    detail::check_events(content, chunk, stream.version());
    head = decoder.hash();
    visit(chunk, content, head);
  }
  if (!stream.damage().empty()) throw RecordingError(stream.damage());
  if (stream.truncated()) {
    throw RecordingError("the recording is cut off at offset " +
                         std::to_string(stream.stop_offset()));
  }
  if (stream.trailer() && stream.trailer()->chain_head != head) {
    throw RecordingError(
        "the trailer's chain head does not match the chunks: verify the recording");
  }
}

std::string view_of(const Hash& hash) {
  return std::string(reinterpret_cast<const char*>(hash.data()), hash.size());
}

// Gathers consecutive chunks and writes them as one segment record.
class SegmentPacker {
 public:
  explicit SegmentPacker(const ArchiveOptions& options)
      : options_(options), context_(detail::chunk_context(options.level)) {
    if (!context_) throw std::bad_alloc();
  }

  void add(const Chunk& c, std::string_view content, const Hash& hash) {
    if (count_ > 0 && events_.size() + content.size() > options_.segment_bytes) flush();
    if (count_ == 0) {
      segment_ = ArchivedSegment{c.seq, 0, c.first_us, c.last_us, {}};
      prev_hash_ = c.prev_hash;
      last_us_ = 0;
    }
    // Times as differences: a chunk starts soon after the previous one ends and lasts at most
    // a second, so each entry takes a few bytes where the chunk record's fields take 24.
    detail::put_varint(table_, c.first_us - (count_ == 0 ? 0 : last_us_));
    detail::put_varint(table_, c.last_us - c.first_us);
    detail::put_varint(table_, c.event_count);
    detail::put_varint(table_, c.raw_size);
    events_.append(content);
    last_us_ = c.last_us;
    segment_.last_us = c.last_us;
    end_hash_ = hash;
    ++count_;
  }

  void flush() {
    if (count_ == 0) return;
    const std::optional<std::string_view> frame =
        detail::compress_frame(context_.get(), frame_, events_, "");
    if (!frame) throw std::bad_alloc();
    std::string sealed;
    detail::put_varint(sealed, count_);
    sealed += table_;
    sealed.append(*frame);
    std::string body;
    detail::put_u64(body, segment_.first_seq);
    body += view_of(prev_hash_);
    body += view_of(detail::segment_seal(end_hash_, sealed));
    body += sealed;
    segment_.chunk_count = count_;
    segment_.record = detail::make_record(detail::RecordType::segment, body);
    segments.push_back(std::move(segment_));
    count_ = 0;
    table_.clear();
    events_.clear();
  }

  std::vector<ArchivedSegment> segments;

 private:
  const ArchiveOptions& options_;
  detail::CCtx context_;
  std::vector<char> frame_;
  ArchivedSegment segment_;
  Hash prev_hash_{}, end_hash_{};
  std::uint64_t count_ = 0, last_us_ = 0;
  std::string table_, events_;
};

}  // namespace

ArchivedRecording to_archive_form(RecordStream stream, const ArchiveOptions& options) {
  ArchivedRecording archive;
  SegmentPacker packer(options);
  for_each_chunk(stream, [&](const Chunk& c, std::string_view content, const Hash& hash) {
    packer.add(c, content, hash);
    ++archive.chunks;
    archive.raw_bytes += c.raw_size;
  });
  packer.flush();
  archive.segments = std::move(packer.segments);
  archive.file = detail::file_prefix(stream.version()) + stream.header_record();
  for (const ArchivedSegment& s : archive.segments) {
    archive.file += s.record;
    archive.stored_bytes += s.record.size();
  }
  if (stream.trailer()) archive.file += stream.trailer()->record;
  return archive;
}

std::string to_live_form(RecordStream stream) {
  std::string file = detail::file_prefix(stream.version()) + stream.header_record();
  const detail::CCtx context = detail::chunk_context(detail::kZstdLevel);
  if (!context) throw std::bad_alloc();
  std::vector<char> frame_space;
  std::string history;  // as the node keeps it (format 2 on)
  for_each_chunk(stream, [&](const Chunk& c, std::string_view content, const Hash&) {
    const std::optional<std::string_view> frame = detail::compress_frame(
        context.get(), frame_space, content, detail::history_for(history, content.size()));
    if (!frame) throw std::bad_alloc();
    std::string body = detail::chunk_fixed_fields(c.seq, c.first_us, c.last_us, c.event_count,
                                                  c.raw_size, c.prev_hash);
    body.append(*frame);
    file += detail::make_record(detail::RecordType::chunk, body);
    detail::extend_history(history, content);
  });
  if (stream.trailer()) file += stream.trailer()->record;
  return file;
}

}  // namespace portcullis::recorder
