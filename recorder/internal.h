// Internal to the recorder library: the byte layout shared by the writer, the reader and the
// shipper. docs/recording-format.md describes every byte; keep the two in step.
#pragma once

#include <zstd.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "recorder/format.h"
#include "recorder/reader.h"

namespace portcullis::recorder::detail {

// PNG-style magic: a high byte and CR LF / ^Z / LF catch text-mode and 7-bit mangling.
constexpr std::string_view kMagic{"\x89PCR\r\n\x1a\n", 8};
constexpr std::size_t kFilePrefixSize = kMagic.size() + 4;  // magic + u32 version

// Segment records (version 4) hold consecutive chunks of an archived recording.
enum class RecordType : std::uint8_t { header = 1, chunk = 2, trailer = 3, segment = 4 };
constexpr std::size_t kRecordPrefixSize = 5;  // u8 type + u32 body length
// No legitimate record comes near this; a larger length is damage, not a big record.
constexpr std::uint32_t kMaxBodySize = 64u << 20;

// Chunk body: seq u64, first_us u64, last_us u64, event_count u32, raw_size u32, prev_hash[32].
constexpr std::size_t kChunkFixedSize = 8 + 8 + 8 + 4 + 4 + 32;
// Trailer body: chain_head[32], five u64 totals, u16 reason length, reason, signature[64].
constexpr std::size_t kTrailerFixedSize = 32 + 5 * 8 + 2;
constexpr std::size_t kSignatureSize = 64;
// Prefixed to the signed bytes so a recording signature can never pass for another message.
// Version 4 signs a chain over the chunks' content, not over their records: its own domain
// keeps a signature of one meaning from ever being read with the other.
constexpr std::string_view kSignatureDomain{"portcullis-recording-v1\0", 24};
constexpr std::string_view kSignatureDomainV4{"portcullis-recording-v4\0", 24};

constexpr int kZstdLevel = 3;
// Version 2: a chunk whose raw size is under kHistoryBelow is compressed with the last
// kHistoryBytes of the raw bytes of all chunks before it as a zstd raw-content prefix.
constexpr std::uint32_t kFirstVersionWithHistory = 2;
// Version 3: input typed by someone who joined the session (EventKind::joined_input).
constexpr std::uint32_t kFirstVersionWithAuthors = 3;
// Version 4: a chunk's hash covers its content (fixed fields, previous hash, decompressed
// events), so a recording can be recompressed (archive form, segment records) and still verify.
constexpr std::uint32_t kFirstVersionWithContentHash = 4;
// Archive form: a segment packs consecutive chunks up to this many raw bytes (a larger chunk
// makes a segment of its own), so a reader holds at most one segment's events at a time.
constexpr std::size_t kSegmentBytes = std::size_t{4} << 20;
constexpr int kArchiveLevel = 19;
// A segment's fixed part: first_seq u64, prev_hash[32], seal[32]; then a chunk count varint.
constexpr std::size_t kSegmentFixedSize = 8 + 32 + 32;
constexpr std::size_t kHistoryBelow = std::size_t{64} * 1024;
constexpr std::size_t kHistoryBytes = std::size_t{32} * 1024;
// The prefix a chunk of `raw_size` bytes is compressed with ("" for none).
std::string_view history_for(std::string_view history, std::size_t raw_size);
// Appends a chunk's raw bytes to the history, keeping only its last kHistoryBytes.
void extend_history(std::string& history, std::string_view raw);

void put_u16(std::string& out, std::uint16_t v);
void put_u32(std::string& out, std::uint32_t v);
void put_u64(std::string& out, std::uint64_t v);
void put_varint(std::string& out, std::uint64_t v);

// Reads little-endian integers and varints from a byte range; every read is bounds-checked and
// throws RecordingError("<what>: ...") when the range is too short.
class ByteReader {
 public:
  ByteReader(std::string_view bytes, std::string what) : bytes_(bytes), what_(std::move(what)) {}
  std::uint8_t u8();
  std::uint16_t u16();
  std::uint32_t u32();
  std::uint64_t u64();
  std::uint64_t varint();
  std::string_view take(std::size_t n);
  std::size_t remaining() const { return bytes_.size() - pos_; }
  std::size_t position() const { return pos_; }

 private:
  [[noreturn]] void fail(const std::string& problem) const;
  std::string_view bytes_;
  std::size_t pos_ = 0;
  std::string what_;
};

Hash sha256(std::string_view bytes);

// SHA-256 over several pieces, with OpenSSL's implementation (which uses the CPU's SHA
// instructions; several times faster than libsodium's portable one, and version 4 hashes every
// byte of output a session produces).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view bytes);
  Hash finish();  // also makes it ready for the next hash

 private:
  void* context_;  // EVP_MD_CTX
};

// The chunk fields version 4 hashes, in the chunk record's layout: seq u64, first_us u64,
// last_us u64, event_count u32, raw_size u32, prev_hash[32] (kChunkFixedSize bytes).
std::string chunk_fixed_fields(std::uint64_t seq, std::uint64_t first_us, std::uint64_t last_us,
                               std::uint32_t event_count, std::uint32_t raw_size,
                               const Hash& prev_hash);
// Version 4: Hk = SHA-256(fixed fields || decompressed event bytes).
Hash content_hash(std::string_view fixed_fields, std::string_view events);
// A segment's seal: SHA-256(hash of its last chunk || its body from the chunk count on).
Hash segment_seal(const Hash& last_chunk, std::string_view count_table_frame);
std::string to_hex(const Hash& hash, std::size_t bytes = 8);  // first `bytes` bytes, for messages

// type || u32 length || body.
std::string make_record(RecordType type, std::string_view body);
// magic || version: what every file starts with.
std::string file_prefix(std::uint32_t version = kFormatVersion);

// The bytes the trailer signature covers: the version's domain || trailer body up to the
// signature.
std::string signed_message(std::string_view trailer_body_unsigned, std::uint32_t version);

// Checks that `events` are well-formed events of a chunk with these fields (kinds, lengths,
// times within [first_us, last_us] ending on last_us, the count), without building them.
// Throws RecordingError("chunk S: ...").
void check_events(std::string_view events, const Chunk& chunk, std::uint32_t version);

}  // namespace portcullis::recorder::detail

namespace portcullis::recorder {
// Whether the trailer's signature verifies with `key` (the fingerprint is not compared).
bool check_trailer_signature(const Trailer& trailer, const PublicKey& key, std::uint32_t version);
}  // namespace portcullis::recorder

namespace portcullis::recorder::detail {

struct ZstdCCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
using CCtx = std::unique_ptr<ZSTD_CCtx, ZstdCCtxFree>;

// A zstd context for chunk frames at `level`, with the content size and checksum flags set;
// nullptr when out of memory.
CCtx chunk_context(int level);
// One frame of `raw` (compressed against `prefix` when not empty) into `out`, which grows as
// needed and is never shrunk; the frame's bytes, or nullopt on failure.
std::optional<std::string_view> compress_frame(ZSTD_CCtx* context, std::vector<char>& out,
                                               std::string_view raw, std::string_view prefix);

}  // namespace portcullis::recorder::detail
