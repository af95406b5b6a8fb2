// Reading and verifying recordings: whole files (parse, verify) and record by record
// (RecordStream, StreamVerifier), for the player, the CLI and the shipper. The input is untrusted.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "recorder/format.h"

struct ZSTD_DCtx_s;  // zstd's decompression context, owned by ChunkDecoder

namespace portcullis::recorder {

// One chunk, read from a chunk record (live form) or from a segment record (archive form,
// version 4), which holds the chunks' fields in a table and their events in one frame.
struct Chunk {
  std::uint64_t seq = 0;
  std::uint64_t first_us = 0, last_us = 0;
  std::uint32_t event_count = 0;
  std::uint32_t raw_size = 0;  // bytes of encoded events once decompressed
  // The previous chunk's hash: from the chunk record, or for a chunk of a segment the segment's
  // `prev_hash` (its first chunk) or the hash of the chunk before it in the segment.
  Hash prev_hash{};
  // Versions 1-3: SHA-256 of `record`. Version 4: the content hash (fixed fields, prev_hash,
  // events), known at once for a chunk of a segment; for a chunk record only once its frame is
  // decompressed (`hashed` false until then: ChunkDecoder::hash()).
  Hash hash{};
  bool hashed = false;
  std::string record;       // chunk record: the exact record bytes (recording_chunks.record)
  std::size_t offset = 0;   // of the record in the file (for a segment's chunk: of the segment)
  std::uint32_t index = 0;  // of the chunk in its segment (0 for a chunk record)
  // A segment's chunk: its decompressed event bytes (the stream decompressed the segment);
  // empty for a chunk record, whose frame is decoded by ChunkDecoder.
  std::string content;
  bool from_segment = false;
  std::string_view frame() const;  // the zstd frame inside a chunk record ("" for a segment's)
};

struct Trailer {
  Hash chain_head{};
  std::uint64_t chunk_count = 0, event_count = 0, raw_bytes = 0, compressed_bytes = 0;
  std::uint64_t duration_us = 0;
  std::string end_reason;
  Signature signature{};
  std::string record;
};

struct ParsedRecording {
  std::uint32_t version = 0;
  Header header;
  std::string header_record;
  Hash header_hash{};
  std::vector<Chunk> chunks;  // in file order, as found
  std::optional<Trailer> trailer;
  // Where reading stopped early: `truncated` when the last record runs past the end of the
  // file (a write torn by a crash), else `damage` says what was unreadable.
  bool truncated = false;
  std::string damage;           // one line, "" when the file is structurally sound
  std::size_t stop_offset = 0;  // where the first torn or damaged record starts
  bool torn_trailer = false;    // the torn record is a trailer (crash while finishing)
  // Bytes of the file up to the end of the last whole record read.
  std::size_t valid_bytes = 0;
};

// Reads a spool or .pcr file. Throws RecordingError when it is not a recording (bad magic,
// unknown version, unreadable header record); damage after the header is reported in the
// result instead, so verify() can name where it is.
ParsedRecording parse(std::string_view file_bytes);
// Decodes a recording's chunks in file order. From format version 2 a chunk under 64 KiB raw
// (one cut by time: every chunk of an interactive session) is compressed with the last 32 KiB of
// the chunks before it as history, which is what makes slow output compress like fast output;
// the decoder keeps the same history.
class ChunkDecoder {
 public:
  explicit ChunkDecoder(std::uint32_t format_version = kFormatVersion);
  // Continues where another decoder stood: `history` is what history() returned there.
  ChunkDecoder(std::uint32_t format_version, std::string history);
  // The events of the next chunk, with absolute timestamps. Throws RecordingError when the frame
  // does not decompress or does not match the chunk's own counts and times; the chunks after a
  // bad one cannot be decoded.
  std::vector<Event> next(const Chunk& chunk);
  // Format 4 without the events: decompresses the next chunk only to hash it (and keep the
  // history). Throws like next(). Returns hash().
  const Hash& skip(const Chunk& chunk);
  // The hash of the chunk next() or skip() last took: its record's (versions 1-3), its content's
  // (version 4).
  const Hash& hash() const { return hash_; }
  // The next chunk's event bytes, decompressed (or a segment chunk's own), without decoding
  // them into events; valid until the next call. Throws like next().
  std::string_view content(const Chunk& chunk);
  // The raw bytes the next chunk may be compressed against (at most 32 KiB): what a reader that
  // resumes decoding in the middle of a recording must keep.
  const std::string& history() const { return history_; }

 private:
  struct FreeContext {
    void operator()(ZSTD_DCtx_s* context) const;
  };
  std::uint32_t version_;
  std::string history_;
  std::unique_ptr<ZSTD_DCtx_s, FreeContext> context_;  // reused for every chunk
  std::string raw_;                                    // the last chunk's decompressed events
  Hash hash_{};
};

// Reads a recording one record at a time from a file (pread, nothing mapped) or from bytes in
// memory, so what it holds never grows with the recording: the header and one record. The input
// is untrusted: every length is checked before anything is read or allocated for it.
class RecordStream {
 public:
  // Throws RecordingError when the file cannot be read or is not a recording (bad magic,
  // unknown version, unreadable header record).
  static RecordStream open_file(const std::filesystem::path& file);
  // Over bytes the caller keeps alive; throws RecordingError like open_file.
  static RecordStream over(std::string_view bytes);
  // Over bytes it keeps itself.
  static RecordStream own(std::string bytes);
  RecordStream(RecordStream&&) noexcept;
  RecordStream& operator=(RecordStream&&) noexcept;
  ~RecordStream();
  // Another reader of the same bytes, positioned at the first chunk.
  RecordStream reopen() const;

  std::uint32_t version() const;
  const Header& header() const;
  const std::string& header_record() const;
  const Hash& header_hash() const;

  // Reads the record at the current position. A chunk fills `chunk` and returns true; the
  // trailer, the end of the file or damage returns false, and trailer()/truncated()/damage()
  // then say which. Once false, it stays false.
  bool next_chunk(Chunk& chunk);
  const std::optional<Trailer>& trailer() const;
  bool truncated() const;     // the last record runs past the end of the file (a torn write)
  bool torn_trailer() const;  // ... and it is a trailer (a crash while finishing)
  const std::string& damage() const;  // why reading stopped on a damaged record, else ""
  std::size_t stop_offset() const;    // where the torn or damaged record starts
  std::size_t valid_bytes() const;    // of the file up to the end of the last whole record

  // Where the next chunk is: the start of its record, and its index in that record (a segment
  // holds many chunks; 0 for a chunk record); and a way back there (a place found earlier).
  std::size_t position() const;
  std::uint32_t position_index() const;
  void seek(std::size_t offset, std::uint32_t index = 0);

 private:
  struct State;
  explicit RecordStream(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

struct Verification {
  bool intact = false;    // every chunk present, in order, unaltered; signature good if checked
  bool complete = false;  // a trailer closes the recording
  bool signature_checked = false;
  std::uint64_t chunks_checked = 0;
  Hash chain_head{};  // the hash of the last chunk checked (H0 without one)
  // One line: the first bad chunk ("chunk 3 altered: ..."), "truncated after chunk N ...",
  // "incomplete: no trailer after chunk N", or "" when intact and complete.
  std::string problem;
};
// Checks the hash chain, every chunk's contents, the trailer's totals and, with a public key,
// the signature and the header's key fingerprint. Without one the signature is not checked.
Verification verify(const ParsedRecording& recording, const std::optional<PublicKey>& public_key);

// What a reader that streams a recording knows of its integrity once it has read every record:
// verified only when the chain is whole, a trailer closes it, its totals match and its signature
// verifies with a known node key. `problem` is one line for the auditor ("chunk 3 altered: ...",
// "incomplete: no trailer after chunk 9", "not signed by a known node key (SHA256:...)").
struct Integrity {
  bool verified = false;
  std::string problem;  // "" when verified
};

// Checks a recording as it is read, one chunk at a time, holding a few hashes and totals and
// never the chunks: the hash chain, then the trailer's totals and its signature. Up to version 3
// contents are not decompressed here (the chain and the signature cover every record byte); from
// version 4 the chain covers the content, so chunk records are decompressed (not decoded into
// events) to hash them. A reader that decodes reports a chunk whose events do not decode.
class StreamVerifier {
 public:
  explicit StreamVerifier(const RecordStream& stream);
  ~StreamVerifier();
  // Call with every chunk in file order.
  void add(const Chunk& chunk);
  // Once the stream returned false: the verdict, with the signature checked against the key of
  // `known_keys` whose fingerprint the header names.
  Integrity finish(const RecordStream& stream, const std::vector<PublicKey>& known_keys) const;

 private:
  std::uint32_t version_ = 0;
  std::unique_ptr<ChunkDecoder> decoder_;  // format 4: chunk records are decompressed to hash
  Hash head_{};
  std::uint64_t chunks_ = 0, events_ = 0, raw_ = 0, compressed_ = 0, last_us_ = 0;
  std::optional<std::uint64_t> last_seq_;
  std::string problem_;  // the first broken link
};
}  // namespace portcullis::recorder
