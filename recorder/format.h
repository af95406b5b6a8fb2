// The session recording format (docs/recording-format.md): the header, events and the chunk
// encoding shared by the writer and the readers. Part of the reading library
// (portcullis_recorder_format), which the player links without PostgreSQL.
//
// Threads: ChunkBuffer is cheap and belongs on the event loop.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::recorder {

using Clock = std::chrono::system_clock;

constexpr std::uint32_t kFormatVersion = 4;
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

// The certificate a session logged in to its target with (certificate accounts only).
struct CertificateRecord {
  std::uint64_t serial = 0;
  std::string key_id;
  Clock::time_point valid_after, valid_before;
  std::string ca_fingerprint;

  friend bool operator==(const CertificateRecord&, const CertificateRecord&) = default;
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
  std::optional<CertificateRecord> certificate;
  // The header JSON's "format" as read; a reader checks it against the file's version (version
  // 4 changed what the chain covers, so the two must agree from there on).
  std::uint32_t format = kFormatVersion;
};

enum class EventKind : std::uint8_t {
  output = 1,
  error_output = 2,
  input = 3,
  resize = 4,
  exec = 5,
  marker = 6,
  // From version 3, on the wire only: input typed by someone who joined the session (Event::
  // author). Readers decode it as `input` with its author.
  joined_input = 7
};

// One timed event. `at_us` counts microseconds since Header::started_at. A resize carries
// cols/rows and no data; a marker's data is a short text such as "grant_warning 5m",
// "exit_status 0", "exit_signal TERM", "upstream_closed".
struct Event {
  EventKind kind = EventKind::output;
  std::uint64_t at_us = 0;
  std::string data;
  std::uint16_t cols = 0, rows = 0;
  // Input only: who typed it when not the session's own user (someone who joined it), else "".
  std::string author{};

  friend bool operator==(const Event&, const Event&) = default;
};

// The longest author name a joined_input event carries (user names are far shorter).
constexpr std::size_t kMaxAuthorBytes = 255;

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

// Encoding of the header record's JSON (exposed for tools and tests).
std::string header_json(const Header& header);
Header header_from_json(std::string_view json);

}  // namespace portcullis::recorder
