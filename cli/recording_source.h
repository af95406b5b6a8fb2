// SESSION arguments of the auditor's commands: a session id read from the database, or a
// recording file (.pcr) when a file of that name exists.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "recorder/reader.h"

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

// The recording SESSION names, as a stream: a file is read a record at a time from disk; a
// stored recording is rebuilt from its chunk rows (compressed, so small). Throws UsageError
// when the file cannot be read or is not a recording.
struct RecordingInput {
  std::string name;  // "session 42" or the file name, for messages (inert)
  recorder::RecordStream stream;
};
RecordingInput open_recording_input(Context& context, const std::string& session);

// The public keys a recording may be signed by: the key in `pubkey_file` when one is given;
// else every node key stored in the database (when it can be reached) and this node's .pub
// file (when there is one). Never a secret key: whoever verifies cannot sign.
std::vector<recorder::PublicKey> known_node_keys(Context& context, const std::string& pubkey_file);

}  // namespace portcullis::cli
