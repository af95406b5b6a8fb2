// The shipper thread's live pass (recorder/live_queue.h): stores what running sessions have
// queued, all sessions in one transaction, and catches up the sessions that fell behind from
// their spool files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "recorder/live_queue.h"
#include "recorder/store.h"

namespace portcullis::recorder {

// Not thread-safe: the shipper's thread only (the queue itself is shared).
class LiveShipper {
 public:
  LiveShipper(LiveQueue& queue, std::filesystem::path spool_dir, const PublicKey& public_key);

  // One pass; errors are logged (once each) and the sessions concerned marked behind. True
  // when everything taken from the queue is stored and no session is left behind.
  bool pass(RecordingStore& store);

 private:
  // Stores the verified part of a running session's spool file (ship_spool_file, which does
  // not delete a file still being written). False when the store failed.
  bool catch_up(RecordingStore& store, std::int64_t session_id);
  bool store_queued(RecordingStore& store, const std::vector<RecordingStore::LiveUpdate>& updates);
  void all_behind(const std::vector<RecordingStore::LiveUpdate>& updates);
  void log_once(const std::string& error);

  LiveQueue& queue_;
  const std::filesystem::path spool_dir_;
  const PublicKey public_key_;
  std::string last_error_;
};

}  // namespace portcullis::recorder
