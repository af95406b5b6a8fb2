// Where shipped recordings live once their spool file is gone. The shipper (recorder/shipper.h)
// and the crash recovery at start-up only talk to this interface: PostgreSQL
// (recorder/postgres_store.h) is one implementation, and an object store (S3 and the like) is one
// new class implementing it, with the spool, the shipper and the verification unchanged.
#pragma once

#include <cstdint>
#include <string>

#include "recorder/reader.h"

namespace portcullis::recorder {

class RecordingStore {
 public:
  enum class State { recording, complete, incomplete };

  // What the shipper found in one spool file: its first `chunks` chunks chain from the header
  // and check (verify()); `state` says whether the recording is still growing, closed by its
  // verified trailer (complete) or given up (incomplete, with a reason).
  struct Update {
    const ParsedRecording& recording;
    std::uint64_t chunks = 0;
    State state = State::recording;
    std::string incomplete_reason;
  };

  virtual ~RecordingStore() = default;

  // Makes sure the store can be reached before a spool file is read for it; throws (a message
  // for the log) when it cannot. The shipper then tries again later.
  virtual void connect() = 0;

  // Stores the header (a session whose stored header differs throws RecordingError), the
  // chunks not stored yet, the totals, the state and, when complete, the trailer. A recording
  // already stored as complete or incomplete is left as it is. All or nothing, and idempotent:
  // the shipper repeats it as the spool file grows. Blocking; throws on storage errors.
  virtual void save(const Update& update) = 0;

  // The .pcr bytes of a stored recording, rebuilt from what the store holds: the shipper compares
  // them with the spool file before deleting it. Throws RecordingError when there is none.
  virtual std::string load(std::int64_t session_id) = 0;
};

}  // namespace portcullis::recorder
