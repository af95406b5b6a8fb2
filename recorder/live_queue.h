// Live shipping: the chunks of running sessions on their way to the RecordingStore while the
// sessions run, so that PostgreSQL is at most about a second behind the spool. Session strands
// add the chunks they have written (and made durable) to their spool files; the shipper thread
// takes everything queued about once a second, or at once for a session someone watches.
//
// Memory is bounded: past the byte limit a session's new chunks are dropped and the session is
// marked behind, and so is a session whose chunks the store could not take (database down, a
// gap). The shipper then catches it up from its spool file, which stays the first copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "recorder/store.h"

namespace portcullis::recorder {

// Thread-safe; no call waits for anything but the queue's mutex.
class LiveQueue {
 public:
  static constexpr std::size_t kDefaultByteLimit = std::size_t{16} << 20;

  // `wake` is called (under no lock of the queue) when a watched session has chunks to ship.
  LiveQueue(std::size_t byte_limit, std::function<void()> wake);

  // Session strands. The session's spool file has been created: its chunks may be added.
  void opened(std::int64_t session_id, std::shared_ptr<const RecordingStore::SpoolHeader> header);
  // Chunks just made durable in the spool file, in order.
  void add(std::int64_t session_id, std::vector<Chunk> chunks);
  // The spool file is finished: the end-of-session ship stores the rest.
  void closed(std::int64_t session_id);
  // Loop thread: an auditor watches the session (ship at once, notify) or has stopped.
  void set_watched(std::int64_t session_id, bool watched);

  // Shipper thread. Everything queued, and the sessions to catch up from their spool files
  // (they are no longer behind from now on: what they write next is queued again).
  struct Pass {
    std::vector<RecordingStore::LiveUpdate> updates;
    std::vector<std::int64_t> behind;
  };
  Pass take();
  // The store could not take the session's chunks: they are dropped with what is queued.
  void fell_behind(std::int64_t session_id);
  // The store will not take chunks of this session while it runs (its recording has ended, or
  // cannot be created yet): the end-of-session ship stores it.
  void stop_shipping(std::int64_t session_id);

  std::size_t queued_bytes() const;

 private:
  struct Session {
    std::shared_ptr<const RecordingStore::SpoolHeader> header;
    std::vector<Chunk> chunks;
    std::size_t bytes = 0;
    bool behind = false;
    bool watched = false;
    bool shipping = true;
  };
  void drop_chunks(Session& session);  // under mutex_

  const std::size_t byte_limit_;
  const std::function<void()> wake_;
  mutable std::mutex mutex_;
  std::unordered_map<std::int64_t, Session> sessions_;
  std::size_t bytes_ = 0;
};

}  // namespace portcullis::recorder
