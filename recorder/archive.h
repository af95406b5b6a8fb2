// The two forms of a version 4 recording (docs/recording-format.md): the live form the node
// writes (one chunk record a second, compressed fast against a short history) and the archive
// form it keeps for the long term (the same chunks packed into segments, each one zstd frame at
// a high level). Both hold the same content, hence the same hash chain: the node's signature
// verifies either, and one converts into the other without the node's key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "recorder/reader.h"

namespace portcullis::recorder {

struct ArchiveOptions {
  int level = 19;                                    // zstd level of the segments' frames
  std::size_t segment_bytes = std::size_t{4} << 20;  // raw bytes a segment packs at most
  // zstd -19 compresses about 1.3 MB a second of one core (bench/NOTES.md), and compaction
  // runs on the shipper thread, which also ships running sessions: a recording larger than
  // `high_level_up_to` (a bulk transfer, whose 64 KiB chunks compress well already) is compacted
  // at `middle_level` (about 35 MB/s), one larger than `middle_level_up_to` at `large_level`,
  // so that no compaction holds that thread for more than a few seconds.
  std::uint64_t high_level_up_to = std::uint64_t{8} << 20;
  int middle_level = 9;
  std::uint64_t middle_level_up_to = std::uint64_t{64} << 20;
  int large_level = 3;
};

struct ArchivedSegment {
  std::uint64_t first_seq = 0, chunk_count = 0;
  std::uint64_t first_us = 0, last_us = 0;
  std::string record;  // the exact segment record bytes (recording_segments.record)
};

struct ArchivedRecording {
  std::string file;  // the whole archive-form file
  std::vector<ArchivedSegment> segments;
  std::uint64_t chunks = 0, raw_bytes = 0;
  std::uint64_t stored_bytes = 0;  // of the segment records
};

// Packs a recording of format 4 (either form) into its archive form: header and trailer
// records as they are, the chunks into segments of at most `segment_bytes` raw bytes (a larger
// chunk alone). Only a recording whose chunks chain and decode is packed: throws RecordingError
// otherwise, and for formats 1 to 3, whose chain covers the compressed records.
ArchivedRecording to_archive_form(RecordStream stream, const ArchiveOptions& options = {});

// The live form of a recording of format 4 (either form): one chunk record per chunk, compressed
// as the node compresses them. Throws RecordingError like to_archive_form.
std::string to_live_form(RecordStream stream);

}  // namespace portcullis::recorder
