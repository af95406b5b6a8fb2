// The recording reader and verifier, and the player's decoding of a file into events. A .pcr
// file is whatever someone with write access to the spool folder or the database made it: each
// of these must report damage (RecordingError, a damage or problem line), never crash.
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>

#include "player/player.h"
#include "recorder/reader.h"

namespace {

using portcullis::recorder::PublicKey;

// The node key of tests/data/recording/v1-sample.pcr, so that the seed built from it reaches
// the signature check.
std::optional<PublicKey> sample_node_key() {
  std::ifstream in(PORTCULLIS_SOURCE_DIR "/tests/data/recording/v1-sample.pub", std::ios::binary);
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  PublicKey key{};
  if (bytes.size() != key.size()) return std::nullopt;
  std::copy(bytes.begin(), bytes.end(), key.begin());
  return key;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace recorder = portcullis::recorder;
  static const std::optional<PublicKey> node_key = sample_node_key();
  const std::string_view file(reinterpret_cast<const char*>(data), size);
  try {
    const recorder::ParsedRecording parsed = recorder::parse(file);
    recorder::verify(parsed, std::nullopt);
    if (node_key) recorder::verify(parsed, node_key);
  } catch (const recorder::RecordingError&) {
    // Not a recording at all: the documented answer.
  }
  try {
    portcullis::player::open_recording(file);
  } catch (const recorder::RecordingError&) {
  }
  return 0;
}
