#include "cli/recording_source.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/common.h"
#include "recorder/keys.h"
#include "recorder/postgres_store.h"
#include "recorder/reader.h"

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

RecordingInput open_recording_input(Context& context, const std::string& session) {
  const std::int64_t id = session_id(session);
  try {
    if (id < 0 || std::filesystem::exists(session)) {
      return {inert_line(session), recorder::RecordStream::open_file(session)};
    }
    return {"session " + session, recorder::RecordStream::own(load_stored_recording(context, id))};
  } catch (const recorder::RecordingError& e) {
    throw UsageError(inert_line(session) + ": " + e.what());
  }
}

std::vector<recorder::PublicKey> known_node_keys(Context& context, const std::string& pubkey_file) {
  if (!pubkey_file.empty()) {
    try {
      return {recorder::parse_public_key_line(read_file(pubkey_file, "public key file"))};
    } catch (const recorder::RecordingError& e) {
      throw UsageError(pubkey_file + ": " + e.what());
    }
  }
  std::vector<recorder::PublicKey> keys;
  // Both sources are optional (a .pcr examined on another machine has neither): a recording
  // whose key is in none of them is reported as not signed by a known node key.
  try {
    context.transact([&](pqxx::work& tx) { keys = recorder::stored_node_keys(tx); });
  } catch (const std::exception&) {
  }
  const auto& signing_key = context.config().recording.signing_key;
  std::ifstream in(recorder::public_key_file(signing_key));
  std::stringstream line;
  line << in.rdbuf();
  try {
    if (in) keys.push_back(recorder::parse_public_key_line(line.str()));
  } catch (const recorder::RecordingError&) {
  }
  return keys;
}

}  // namespace portcullis::cli
