// The daemon's side of the journal (store/journal.h): what it owes PostgreSQL (audit rows,
// session ends, crash recovery) is made durable on local disk the moment it is known, then
// written to the database in order by a thread of its own with its own connection. While the
// database is unreachable the entries wait in the file and are retried at least every second;
// a crash leaves them for the next start, which applies them before it closes anything as
// left open.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/common.h"
#include "settings/settings.h"
#include "store/journal.h"
#include "store/store.h"

namespace portcullis::proxy {

class Journal {
 public:
  // Opens (and locks) the journal file, takes over what an earlier run left in it, and starts
  // writing. Throws std::system_error when the file cannot be opened or another daemon holds it.
  explicit Journal(const Config& config);
  // Writes what it can in one last attempt; the rest stays in the file for the next start.
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Queues `entry` (its id is set here). Any thread; never waits for the disk or the database.
  // Past kMaxBacklogBytes, audit entries are dropped and counted (an audit row says how many
  // once the backlog is written); session ends are always kept.
  void submit(store::JournalEntry entry);

  // This run of the daemon: a random id, written with each session it opens.
  const std::string& boot() const { return boot_; }

  // Attempts to write that the database failed or refused, for the metrics; any thread.
  std::uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }

  // How much may wait for the database, in bytes of journal.
  static constexpr std::uint64_t kMaxBacklogBytes = 64ull << 20;

 private:
  void run();
  void persist(std::vector<store::JournalEntry> batch);
  bool apply_pending();
  bool apply_batch(std::size_t count);
  bool apply_one_by_one(std::size_t count);
  void settle_front(std::size_t count);
  void reject(const store::JournalEntry& entry, const std::string& why);
  void forget_applied();
  void note_unavailable(const std::string& why);
  void take_over_leftovers();

  const std::string url_;
  const std::string actor_;  // "portcullisd:NODE", for the audit rows of the journal itself
  const std::string boot_;
  const std::filesystem::path rejected_path_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<store::JournalEntry> incoming_;  // guarded by mutex_
  std::uint64_t next_sequence_ = 1;            // guarded by mutex_
  std::uint64_t backlog_bytes_ = 0;            // guarded by mutex_: not yet in the database
  std::uint64_t dropped_ = 0;                  // guarded by mutex_
  bool stopping_ = false;                      // guarded by mutex_
  std::atomic<std::uint64_t> failures_{0};

  // The writer thread's own.
  store::JournalFile file_;
  store::Database database_;
  std::deque<store::JournalEntry> pending_;  // in the file (or failed to be), not yet applied
  std::vector<std::string> applied_ids_;     // applied, still in the file
  bool unavailable_ = false;                 // the last attempt found no database
  std::string last_problem_;
  std::thread thread_;
};

}  // namespace portcullis::proxy
