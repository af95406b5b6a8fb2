// [recording]: where the spool is, the signing key, and what happens when recording fails.
#pragma once

#include <filesystem>

#include "common/config.h"

namespace portcullis {

enum class OnRecordFailure { terminate, continue_unrecorded };

// How written chunks are made durable: each spool file with its own fdatasync, or the writes of
// every session together with one syncfs of the spool folder's filesystem.
enum class SpoolSync { file, filesystem };

struct RecordingConfig {
  std::filesystem::path spool_dir;  // absolute after loading; default <state_dir>/spool
  // Absolute after loading; default <state_dir>/signing.key.
  std::filesystem::path signing_key;
  bool record_input = true;  // keystrokes; a [[policy]] may override it
  OnRecordFailure on_record_failure = OnRecordFailure::terminate;
  SpoolSync sync = SpoolSync::file;
  // Chunks reach the database while the session runs (about a second behind), not only when it
  // ends.
  bool live_shipping = true;
  // Once a finished recording is stored, the shipper recompresses it into its archive form
  // (docs/recording-format.md, "Archive form") at this zstd level.
  bool compact = true;
  int compact_level = 19;
  bool operator==(const RecordingConfig&) const = default;
};

void declare_recording_config(ConfigSchema& schema, RecordingConfig& recording);

}  // namespace portcullis
