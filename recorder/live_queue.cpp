// The live shipping queue: what running sessions wrote to the spool, bounded in bytes.
#include "recorder/live_queue.h"

#include <algorithm>
#include <iterator>
#include <utility>

namespace portcullis::recorder {
namespace {

std::size_t record_bytes(const std::vector<Chunk>& chunks) {
  std::size_t bytes = 0;
  for (const Chunk& chunk : chunks) bytes += chunk.record.size();
  return bytes;
}

}  // namespace

LiveQueue::LiveQueue(std::size_t byte_limit, std::function<void()> wake)
    : byte_limit_(byte_limit), wake_(std::move(wake)) {}

void LiveQueue::opened(std::int64_t session_id,
                       std::shared_ptr<const RecordingStore::SpoolHeader> header) {
  std::lock_guard<std::mutex> lock(mutex_);
  sessions_[session_id].header = std::move(header);
}

// A session already behind drops its chunks too: the catch-up reads them from the spool file,
// and storing them now would leave a gap before them.
void LiveQueue::add(std::int64_t session_id, std::vector<Chunk> chunks) {
  const std::size_t bytes = record_bytes(chunks);
  bool watched = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto found = sessions_.find(session_id);
    if (found == sessions_.end()) return;
    Session& session = found->second;
    if (!session.shipping || session.behind) return;
    if (bytes_ + bytes > byte_limit_) {
      session.behind = true;
      return;
    }
    std::move(chunks.begin(), chunks.end(), std::back_inserter(session.chunks));
    session.bytes += bytes;
    bytes_ += bytes;
    watched = session.watched;
  }
  if (watched && wake_) wake_();
}

void LiveQueue::closed(std::int64_t session_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto found = sessions_.find(session_id);
  if (found == sessions_.end()) return;
  bytes_ -= found->second.bytes;
  sessions_.erase(found);
}

// The session may not be opened yet (its spool file is created on its strand): the flag waits.
void LiveQueue::set_watched(std::int64_t session_id, bool watched) {
  std::lock_guard<std::mutex> lock(mutex_);
  sessions_[session_id].watched = watched;
}

LiveQueue::Pass LiveQueue::take() {
  Pass pass;
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [session_id, session] : sessions_) {
    if (session.behind) {
      session.behind = false;
      pass.behind.push_back(session_id);
    }
    if (session.chunks.empty()) continue;
    pass.updates.push_back(RecordingStore::LiveUpdate{session_id, session.header,
                                                      std::move(session.chunks), session.watched});
    drop_chunks(session);  // moved from: only the count is left to clear
  }
  return pass;
}

void LiveQueue::fell_behind(std::int64_t session_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto found = sessions_.find(session_id);
  if (found == sessions_.end() || !found->second.shipping) return;
  found->second.behind = true;
  drop_chunks(found->second);
}

void LiveQueue::stop_shipping(std::int64_t session_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto found = sessions_.find(session_id);
  if (found == sessions_.end()) return;
  found->second.shipping = false;
  found->second.behind = false;
  drop_chunks(found->second);
}

void LiveQueue::drop_chunks(Session& session) {
  session.chunks.clear();
  bytes_ -= std::exchange(session.bytes, 0);
}

std::size_t LiveQueue::queued_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bytes_;
}

}  // namespace portcullis::recorder
