// The journal: what a node owes the database (audit rows, session ends), on local disk first.
// A database outage or a crash of the daemon then loses none of it: the daemon replays the
// journal in order when PostgreSQL is back, and each entry carries an id so that a replay after
// a crash applies it once.
//
// File format: one entry per line, each a JSON object
//   {"id":"<boot>:<seq>","kind":"session.end","at_us":1764560000123456,"fields":{...}}
// appended and fdatasync'ed before the database is written. A last line without its newline is
// a write cut short by a crash (never acknowledged) and is ignored.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/common.h"

namespace portcullis::store {

struct JournalEntry {
  // Unique across nodes and daemon runs: "<boot>:<seq>". Ids and kinds are words of letters,
  // digits and ":._-" (at most 128 and 64 bytes); a line with anything else is not an entry.
  std::string id;
  std::string kind;  // what to do with `fields`; the access library applies each kind
  std::chrono::system_clock::time_point at;  // when it happened, not when it was written
  nlohmann::json fields = nlohmann::json::object();

  std::string to_line() const;  // the entry's line in the file, newline included
};

// The largest line read back; longer lines are damage, not entries.
constexpr std::size_t kMaxJournalLine = 1 << 20;

// What a journal file holds, and the lines that could not be read as entries.
struct JournalContents {
  std::vector<JournalEntry> entries;  // in file order
  std::vector<std::string> problems;  // "line 7: ..." for each damaged line skipped
};

// Reads a journal without taking it over (for the CLI). A missing file is an empty journal;
// other failures to read throw std::system_error.
JournalContents read_journal(const std::filesystem::path& path);

// The daemon's handle on its journal: created 0600 if missing, and locked so that a second
// daemon pointed at the same file fails at start instead of replaying it too.
class JournalFile {
 public:
  // Throws std::system_error when the file cannot be opened or is locked by another process.
  explicit JournalFile(std::filesystem::path path);

  const std::filesystem::path& path() const { return path_; }
  JournalContents read() const;
  // Appends the entries with one write and makes them durable (fdatasync). Throws
  // std::system_error; then the file may hold some of them.
  void append(const std::vector<JournalEntry>& entries);
  // Empties the file once everything in it is applied. Throws std::system_error.
  void clear();
  std::uint64_t size() const { return size_; }

 private:
  std::filesystem::path path_;
  UniqueFd fd_;
  std::uint64_t size_ = 0;
};

}  // namespace portcullis::store
