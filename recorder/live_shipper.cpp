// Live shipping, the shipper thread's side: queued chunks in one transaction per pass, and the
// sessions that fell behind caught up from their spool files first.
#include "recorder/live_shipper.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "common/common.h"
#include "recorder/shipper.h"

namespace portcullis::recorder {
namespace {

namespace fs = std::filesystem;

// With [recording] sync = "filesystem" a chunk written a moment ago may not be durable yet; the
// database must never hold a chunk that a crash could take from the spool file, or the spool
// would no longer match it.
void make_durable(const fs::path& file) {
  const UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd) ::fdatasync(fd.get());
}

}  // namespace

LiveShipper::LiveShipper(LiveQueue& queue, fs::path spool_dir, const PublicKey& public_key)
    : queue_(queue), spool_dir_(std::move(spool_dir)), public_key_(public_key) {}

// The sessions behind are caught up before the queued chunks are stored: what they queued since
// take() follows what their spool file holds now, so it continues what the catch-up stores.
bool LiveShipper::pass(RecordingStore& store) {
  LiveQueue::Pass pass = queue_.take();
  if (pass.updates.empty() && pass.behind.empty()) return true;
  try {
    store.connect();
  } catch (const std::exception& e) {
    log_once(e.what());
    for (std::int64_t session_id : pass.behind) queue_.fell_behind(session_id);
    all_behind(pass.updates);
    return false;
  }
  bool all_stored = true;
  for (std::int64_t session_id : pass.behind) {
    if (!catch_up(store, session_id)) {
      queue_.fell_behind(session_id);
      all_stored = false;
    }
  }
  return store_queued(store, pass.updates) && all_stored;
}

bool LiveShipper::catch_up(RecordingStore& store, std::int64_t session_id) {
  const fs::path spool = spool_dir_ / (std::to_string(session_id) + ".pcr");
  if (!fs::exists(spool)) return true;  // shipped already, at the end of the session
  make_durable(spool);
  std::string error;
  if (ship_spool_file(store, spool, false, public_key_, error) != ShipResult::failed) return true;
  log_once("cannot catch up the recording of session " + std::to_string(session_id) + ": " + error);
  return false;
}

bool LiveShipper::store_queued(RecordingStore& store,
                               const std::vector<RecordingStore::LiveUpdate>& updates) {
  if (updates.empty()) return true;
  std::vector<RecordingStore::LiveResult> results;
  try {
    results = store.save_live(updates);
  } catch (const std::exception& e) {
    log_once(std::string("cannot store the chunks of running sessions: ") + e.what());
    all_behind(updates);
    return false;
  }
  if (!last_error_.empty()) {
    spdlog::info("live recording shipping: storing again ({} running session(s) in this pass)",
                 updates.size());
    last_error_.clear();
  }
  bool all_stored = results.size() >= updates.size();
  for (std::size_t i = 0; i < updates.size() && i < results.size(); ++i) {
    if (results[i] == RecordingStore::LiveResult::behind) {
      queue_.fell_behind(updates[i].session_id);
      all_stored = false;
    }
    // Not stored live, but the spool pass stores it once the session ends.
    if (results[i] == RecordingStore::LiveResult::not_recording) {
      queue_.stop_shipping(updates[i].session_id);
    }
  }
  return all_stored;
}

void LiveShipper::all_behind(const std::vector<RecordingStore::LiveUpdate>& updates) {
  for (const RecordingStore::LiveUpdate& update : updates) queue_.fell_behind(update.session_id);
}

void LiveShipper::log_once(const std::string& error) {
  if (error == last_error_) return;
  spdlog::warn("live recording shipping: {}; the spool keeps the chunks and they follow later",
               one_line(error));
  last_error_ = error;
}

}  // namespace portcullis::recorder
