// Where shipped recordings live once their spool file is gone. The shipper (recorder/shipper.h)
// and the crash recovery at start-up only talk to this interface: PostgreSQL
// (recorder/postgres_store.h) is one implementation, and an object store (S3 and the like) is one
// new class implementing it, with the spool, the shipper and the verification unchanged.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "recorder/archive.h"
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

  // The chunks of a running session written to its spool file since the last live update, in
  // order (recorder/live_queue.h). `header` creates the recording when it is not stored yet.
  struct SpoolHeader {
    Header header;
    std::string record;  // the exact header record bytes of the spool file
  };
  struct LiveUpdate {
    std::int64_t session_id = 0;
    std::shared_ptr<const SpoolHeader> header;
    std::vector<Chunk> chunks;
    bool watched = false;  // an auditor follows it: notify 'portcullis_recording' when stored
  };
  enum class LiveResult {
    stored,         // the chunks are stored (those stored before are skipped)
    behind,         // the first chunk does not follow the stored ones: nothing stored
    not_recording,  // the recording has ended or cannot be stored live; nothing more will be
  };

  // Stores the chunks of many running sessions in one transaction: for each, the recording
  // (state "recording") when absent, the chunks that continue the stored ones without a gap,
  // and the totals. One result per update, in order. Blocking; throws on storage errors.
  virtual std::vector<LiveResult> save_live(const std::vector<LiveUpdate>& updates) = 0;

  // The .pcr bytes of a stored recording, rebuilt from what the store holds: the shipper compares
  // them with the spool file before deleting it. Throws RecordingError when there is none.
  virtual std::string load(std::int64_t session_id) = 0;

  // What compacting one recording did (docs/recording-format.md, "Archive form").
  struct Compaction {
    bool compacted = false;
    std::string skipped;  // why not, when not compacted ("already archived", ...)
    std::uint64_t chunks = 0, segments = 0, raw_bytes = 0;
    std::uint64_t bytes_before = 0, bytes_after = 0;  // of the chunk records, the segment records
  };
  // Replaces the stored chunks of an ended format-4 recording by their archive form: the
  // segments are stored, read back and verified against the recording's chain head (and the
  // signature, with the key of `known_keys` its header names) before the chunks are removed, all
  // in one transaction. Throws when it fails; the chunks then stay. A store that keeps no
  // archive form returns a Compaction that says so.
  virtual Compaction compact(std::int64_t session_id, const std::vector<PublicKey>& known_keys,
                             const ArchiveOptions& options) {
    (void)session_id, (void)known_keys, (void)options;
    return Compaction{false, "this store keeps recordings as they were shipped", 0, 0, 0, 0, 0};
  }
};

}  // namespace portcullis::recorder
