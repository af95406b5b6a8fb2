// Public interface of the `recorder` library: the session recording format (docs/
// recording-format.md), the spool writer the daemon feeds, the reader and verifier the auditor
// uses, and the shipper that moves spool files into PostgreSQL.
//
// Threads: ChunkBuffer is cheap and belongs on the event loop; SpoolWriter does blocking disk
// I/O (fdatasync) and the shipper blocking database I/O: worker threads only.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

struct ZSTD_DCtx_s;  // zstd's decompression context, owned by ChunkDecoder

namespace portcullis::recorder {

using Clock = std::chrono::system_clock;

constexpr std::uint32_t kFormatVersion = 2;
// The daemon cuts a chunk when its buffer reaches this size or 1 s after its first event.
constexpr std::size_t kChunkBytes = std::size_t{64} * 1024;

using Hash = std::array<unsigned char, 32>;       // SHA-256
using PublicKey = std::array<unsigned char, 32>;  // Ed25519
using Signature = std::array<unsigned char, 64>;  // Ed25519, detached

// A file that is not a recording, or whose structure is too damaged to read at all.
class RecordingError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Approval {
  std::string approver;
  Clock::time_point at;
};

struct Header {
  std::int64_t session_id = 0;
  std::string node;
  std::int64_t grant_id = 0;
  std::string user, target, login, reason, ticket;
  std::vector<Approval> approvals;
  bool break_glass = false;
  std::string client;  // "ip:port"
  Clock::time_point started_at;
  std::uint16_t cols = 0, rows = 0;  // 0 when the session has no pty
  std::string term;                  // "" when the session has no pty
  std::string node_key_fingerprint;  // filled by SpoolWriter::create from the signing key
};

enum class EventKind : std::uint8_t {
  output = 1,
  error_output = 2,
  input = 3,
  resize = 4,
  exec = 5,
  marker = 6
};

// One timed event. `at_us` counts microseconds since Header::started_at. A resize carries
// cols/rows and no data; a marker's data is a short text such as "grant_warning 5m",
// "exit_status 0", "exit_signal TERM", "upstream_closed".
struct Event {
  EventKind kind = EventKind::output;
  std::uint64_t at_us = 0;
  std::string data;
  std::uint16_t cols = 0, rows = 0;

  friend bool operator==(const Event&, const Event&) = default;
};

// Accumulates encoded events for the next chunk. Cheap; runs on the event loop.
class ChunkBuffer {
 public:
  // Timestamps must not go backwards; one that does is stored as the previous event's time.
  void add(const Event& event);
  // The same for an output, error_output, input, exec or marker event, without building an
  // Event: the bytes are copied once, straight into the chunk (the hot path of a session).
  void add(EventKind kind, std::uint64_t at_us, std::string_view data);
  std::size_t size() const { return bytes_.size(); }  // encoded bytes, compare with kChunkBytes
  bool empty() const { return events_ == 0; }
  std::uint32_t events() const { return events_; }
  std::uint64_t first_us() const { return first_us_; }
  std::uint64_t last_us() const { return last_us_; }
  const std::string& bytes() const { return bytes_; }
  // Moves the contents out, leaving this buffer empty for the next chunk, which is gathered in
  // `storage` (emptied, its capacity kept): a busy session hands back the bytes of a chunk
  // already written instead of allocating, and page-faulting, 64 KiB for every chunk.
  ChunkBuffer take(std::string storage = {});
  // Gives up the bytes (for a later take()), leaving this buffer empty.
  std::string release_storage();

 private:
  // Starts an event: kind and time delta.
  void begin(EventKind kind, std::uint64_t at_us);

  std::string bytes_;
  std::size_t expected_size_ = 0;  // the last chunk's size: a busy session reserves it at once
  std::uint32_t events_ = 0;
  std::uint64_t first_us_ = 0;
  std::uint64_t last_us_ = 0;
};

// The node's Ed25519 signing key: the raw 64-byte libsodium secret key file that
// `portcullis init` creates. The secret lives in sodium_malloc memory (guard pages, mlocked,
// never swapped) and is wiped when the object dies.
class SigningKey {
 public:
  // Throws RecordingError when the file cannot be read, is not a regular file of mode 0600 (or
  // stricter) owned by this process's user, or is not 64 bytes with a matching public half.
  static SigningKey load(const std::filesystem::path& file);
  // From the 64 raw bytes (seed || public key); throws RecordingError when they do not match.
  static SigningKey from_bytes(std::string_view secret_key);
  SigningKey(const SigningKey& other);
  SigningKey& operator=(const SigningKey& other);
  SigningKey(SigningKey&& other) noexcept;
  SigningKey& operator=(SigningKey&& other) noexcept;
  ~SigningKey();

  PublicKey public_key() const;
  std::string fingerprint() const;  // "SHA256:<base64, no padding>", as OpenSSH prints
  Signature sign(std::string_view message) const;

 private:
  SigningKey();                      // allocates the protected memory
  unsigned char* secret_ = nullptr;  // sodium_malloc'd, 64 bytes
};

// "SHA256:" + base64 (no padding) of SHA-256 of the 32-byte key.
std::string fingerprint(const PublicKey& key);
// "portcullis-ed25519 <base64 of the 32-byte key> <node>", what `portcullis node pubkey` prints.
std::string public_key_line(const PublicKey& key, const std::string& node);
// Parses public_key_line's format (node name optional); throws RecordingError.
PublicKey parse_public_key_line(std::string_view line);

// The public key file beside a signing key: "<signing key>.pub", one public_key_line.
std::filesystem::path public_key_file(const std::filesystem::path& signing_key);
// The node's public key from that file. An install older than the file has none: then it is
// derived from the secret key (when this user can read it) and the file is written (0644), so
// later readers need no secret. Throws RecordingError when neither can be read.
PublicKey load_public_key(const std::filesystem::path& signing_key, const std::string& node);

// Owns one spool file. Every call compresses, hashes, appends and (unless told to leave it to the
// caller) fdatasyncs: worker thread.
// Move-only; a moved-from writer may only be destroyed or assigned to. A failed call leaves the
// file as it was before the call, so it may be retried.
class SpoolWriter {
 public:
  // Creates spool_dir/<session_id>.pcr (0600, O_EXCL), writes and syncs the header record
  // and the folder entry.
  static std::variant<SpoolWriter, std::error_code> create(const std::filesystem::path& spool_dir,
                                                           Header header, const SigningKey& key);
  SpoolWriter(SpoolWriter&&) noexcept;
  SpoolWriter& operator=(SpoolWriter&&) noexcept;
  ~SpoolWriter();

  // Writes one chunk record (nothing for an empty buffer). The buffer is left untouched, so
  // the caller may retry it after an error such as ENOSPC.
  std::error_code append(const ChunkBuffer& chunk);
  // Whether append() makes the records durable before it returns, or only writes them and leaves
  // the sync to the caller: sync(), or one syncfs(2) covering the files of many sessions.
  enum class Sync { now, later };
  // Several chunks in order with a single fdatasync (a backlog catching up); all or nothing.
  std::error_code append(std::span<const ChunkBuffer> chunks, Sync sync = Sync::now);
  // fdatasync of everything written so far.
  std::error_code sync();
  // Writes the signed trailer and closes the file; the recording is then complete. Later
  // calls of append/finish return std::errc::bad_file_descriptor.
  std::error_code finish(const std::string& end_reason);

  const std::filesystem::path& path() const;
  const Header& header() const;
  std::uint64_t chunks() const;
  std::uint64_t events() const;
  std::uint64_t raw_bytes() const;         // encoded event bytes before compression
  std::uint64_t compressed_bytes() const;  // zstd frame bytes

 private:
  struct State;
  explicit SpoolWriter(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// ---- reading ---------------------------------------------------------------------------

struct Chunk {
  std::uint64_t seq = 0;
  std::uint64_t first_us = 0, last_us = 0;
  std::uint32_t event_count = 0;
  std::uint32_t raw_size = 0;  // bytes of encoded events once decompressed
  Hash prev_hash{};
  Hash hash{};                     // SHA-256 of `record`
  std::string record;              // the exact record bytes (what recording_chunks.record stores)
  std::size_t offset = 0;          // of the record in the file
  std::string_view frame() const;  // the zstd frame inside `record`
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

  // Where the next record starts, and a way back there (a record start found earlier).
  std::size_t position() const;
  void seek(std::size_t offset);

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
// never the chunks: the hash chain, then the trailer's totals and its signature. Contents are not
// decompressed here (the chain and the signature already cover every byte); a reader that
// decodes reports a chunk that does not decode.
class StreamVerifier {
 public:
  explicit StreamVerifier(const RecordStream& stream);
  // Call with every chunk in file order.
  void add(const Chunk& chunk);
  // Once the stream returned false: the verdict, with the signature checked against the key of
  // `known_keys` whose fingerprint the header names.
  Integrity finish(const RecordStream& stream, const std::vector<PublicKey>& known_keys) const;

 private:
  Hash head_{};
  std::uint64_t chunks_ = 0, events_ = 0, raw_ = 0, compressed_ = 0, last_us_ = 0;
  std::optional<std::uint64_t> last_seq_;
  std::string problem_;  // the first broken link
};

// Encoding of the header record's JSON (exposed for tools and tests).
std::string header_json(const Header& header);
Header header_from_json(std::string_view json);

// ---- PostgreSQL ------------------------------------------------------------------------

enum class ShipResult { shipped, partial, failed };

// Copies every complete record of one spool file not yet stored into recordings /
// recording_chunks (idempotent, resumable), marks the recording complete when the trailer is
// stored, and deletes the spool file only once everything is stored, the stored bytes equal
// the spool file's and verify() passes on them. `crashed` (daemon start-up): a spool without
// trailer is stored, marked incomplete with a reason, and deleted. Without `crashed`, a spool
// still being written returns `partial`. `public_key` checks the signature before deleting.
// `error` gets one line for `partial` and `failed`. Blocking: worker threads only.
ShipResult ship_spool_file(pqxx::connection& conn, const std::filesystem::path& spool, bool crashed,
                           const std::optional<PublicKey>& public_key, std::string& error);

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

// Rebuilds the .pcr bytes of a stored recording. Throws RecordingError when there is none.
std::string load_recording(pqxx::work& tx, std::int64_t session_id);

struct RecordingSummary {
  std::int64_t session_id = 0;
  std::string state;  // recording, complete, incomplete
  std::string incomplete_reason;
  std::uint64_t chunk_count = 0, event_count = 0, raw_bytes = 0, compressed_bytes = 0;
  std::uint64_t duration_us = 0;
  Header header;
};
std::optional<RecordingSummary> find_recording(pqxx::work& tx, std::int64_t session_id);

}  // namespace portcullis::recorder
