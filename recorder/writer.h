// The spool writer the daemon feeds: one recording file per session, made durable chunk by
// chunk. SpoolWriter does blocking disk I/O (fdatasync): worker threads only.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <variant>
#include <vector>

#include "recorder/format.h"
#include "recorder/keys.h"
#include "recorder/reader.h"

namespace portcullis::recorder {

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
  // `written`, when given, receives the records as a reader finds them in the file (live
  // shipping stores these very bytes while the session runs).
  std::error_code append(std::span<const ChunkBuffer> chunks, Sync sync = Sync::now,
                         std::vector<Chunk>* written = nullptr);
  // fdatasync of everything written so far.
  std::error_code sync();
  // Writes the signed trailer and closes the file; the recording is then complete. Later
  // calls of append/finish return std::errc::bad_file_descriptor.
  std::error_code finish(const std::string& end_reason);

  const std::filesystem::path& path() const;
  const Header& header() const;
  const std::string& header_record() const;  // the exact header record bytes in the file
  std::uint64_t chunks() const;
  std::uint64_t events() const;
  std::uint64_t raw_bytes() const;         // encoded event bytes before compression
  std::uint64_t compressed_bytes() const;  // zstd frame bytes

 private:
  struct State;
  explicit SpoolWriter(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};
}  // namespace portcullis::recorder
