#include "cli/recording_source.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "recorder/recorder.h"

namespace portcullis::cli {

std::int64_t session_id(const std::string& text) {
  const bool digits = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c));
  });
  if (!digits || text.size() > 18) return -1;
  return std::stoll(text);
}

std::string load_stored_recording(Context& context, std::int64_t id) {
  std::string bytes;
  context.transact([&](pqxx::work& tx) { bytes = recorder::load_recording(tx, id); });
  return bytes;
}

RecordingBytes load_recording(Context& context, const std::string& session) {
  const std::int64_t id = session_id(session);
  // A file named like a number wins: the auditor may have exported "42" from elsewhere.
  if (id < 0 || std::filesystem::exists(session)) {
    return {session, read_file(session, "recording")};
  }
  return {"session " + session, load_stored_recording(context, id)};
}

}  // namespace portcullis::cli
