// Moving finished spool files into a RecordingStore: one file at a time (ship_spool_file), and
// the daemon's shipper thread that does it for every file in the spool folder, starting with
// what a crash left behind.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "recorder/live_queue.h"
#include "recorder/live_shipper.h"
#include "recorder/store.h"

namespace portcullis::recorder {

enum class ShipResult { shipped, partial, failed };

// How far the store is behind the spool folder, for portcullisd's metrics.
struct ShipperStats {
  // Spool files of ended sessions (or of an earlier run) the last pass could not store, and
  // their size.
  std::uint64_t backlog_files = 0;
  std::uint64_t backlog_bytes = 0;
  std::uint64_t live_queue_bytes = 0;  // chunks of running sessions waiting for a live pass
  // How long ago everything the spool held was last known to be in the store: the start of the
  // last live pass that stored everything queued and left no session behind, or of the last
  // spool pass that left no finished file, whichever is older. About a second when healthy;
  // it grows while the store is away, a session is behind or a spool file cannot be shipped.
  std::chrono::steady_clock::duration lag{};
};

// Copies every complete record of one spool file not yet stored into `store` (idempotent,
// resumable), marks the recording complete when the trailer is stored, and deletes the spool
// file only once everything is stored, the stored bytes equal the spool file's and verify()
// passes on them. `crashed` (daemon start-up): a spool without trailer is stored, marked
// incomplete with a reason, and deleted. Without `crashed`, a spool still being written returns
// `partial`. `public_key` checks the signature before deleting. `error` gets one line for
// `partial` and `failed`. Blocking: worker threads only.
ShipResult ship_spool_file(RecordingStore& store, const std::filesystem::path& spool, bool crashed,
                           const std::optional<PublicKey>& public_key, std::string& error);

// Ships every spool file no session is writing any more, from a thread of its own: at once when
// a session ends, else every few seconds, retrying while the store is away. What is not shipped
// by shutdown stays in the spool folder for the next start. The same thread ships the chunks of
// running sessions (live(), recorder/live_queue.h) about every second, and within about 100 ms
// of being cut for a watched session.
class Shipper {
 public:
  // `compaction`: once a finished recording is stored and checked, the shipper thread replaces
  // its chunks in the store by the archive form (RecordingStore::compact); none keeps them.
  Shipper(std::filesystem::path spool_dir, std::unique_ptr<RecordingStore> store,
          const PublicKey& public_key, std::optional<ArchiveOptions> compaction = std::nullopt);
  ~Shipper();  // stop()
  Shipper(const Shipper&) = delete;
  Shipper& operator=(const Shipper&) = delete;

  // Crash recovery: the spool files already there when the daemon starts were left by an
  // earlier run, and are stored (without trailer: as incomplete); then the thread starts.
  void start();
  // Any thread. The spool file of `session_id` is being written: it waits until written().
  void writing(std::int64_t session_id);
  void written(std::int64_t session_id);
  // A file being shipped right now is completed; the rest wait in the spool folder.
  void stop();

  // Where running sessions hand the chunks they have written; any thread.
  LiveQueue& live() { return live_queue_; }

  // Any thread.
  ShipperStats stats() const;

 private:
  void ship_loop();
  bool ship_pass();         // true when no finished file is left behind
  void live_pass_if_due();  // the thread's, between spool files too
  void wake_for_watcher();
  bool is_live(const std::filesystem::path& spool_file) const;    // under mutex_
  void compact(const std::filesystem::path& shipped_spool_file);  // the thread's

  const std::filesystem::path spool_dir_;
  const std::unique_ptr<RecordingStore> store_;  // only touched by the thread
  const PublicKey public_key_;
  const std::optional<ArchiveOptions> compaction_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::set<std::int64_t> live_;                // sessions still writing their spool file
  std::set<std::filesystem::path> leftovers_;  // found at start-up: a crash's
  std::string last_error_;
  bool stopping_ = false;
  bool watcher_waiting_ = false;  // a watched session has chunks queued
  LiveQueue live_queue_;
  LiveShipper live_shipper_;                              // only touched by the thread
  std::chrono::steady_clock::time_point last_live_pass_;  // only touched by the thread
  // Written by the thread, read by stats(): the backlog the last spool pass left, and when the
  // store last held everything (steady_clock ticks).
  std::atomic<std::uint64_t> backlog_files_{0};
  std::atomic<std::uint64_t> backlog_bytes_{0};
  std::atomic<std::chrono::steady_clock::rep> live_synced_at_;
  std::atomic<std::chrono::steady_clock::rep> spool_synced_at_;
  std::thread thread_;
};

}  // namespace portcullis::recorder
