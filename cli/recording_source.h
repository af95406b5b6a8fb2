// SESSION arguments of the auditor's commands: a session id read from the database, or a
// recording file (.pcr) when a file of that name exists.
#pragma once

#include <cstdint>
#include <string>

#include "cli/cli.h"

namespace portcullis::cli {

// The id `text` names, or -1 when it is not a plain number.
std::int64_t session_id(const std::string& text);

// The .pcr bytes of a recording stored in the database.
std::string load_stored_recording(Context& context, std::int64_t id);

struct RecordingBytes {
  std::string name;   // "session 42" or the file name, for messages
  std::string bytes;  // the .pcr bytes
};
// Reads the recording SESSION names; throws UsageError when the file cannot be read.
RecordingBytes load_recording(Context& context, const std::string& session);

}  // namespace portcullis::cli
