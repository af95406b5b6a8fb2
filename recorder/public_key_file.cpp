// The public key file beside a node's signing key: what verifiers read instead of the secret.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/common.h"
#include "recorder/keys.h"

namespace portcullis::recorder {
namespace {

// Writes the .pub file (0644: a public key) through a temporary name, so that a reader never
// sees half of it and two writers cannot interleave.
void write_public_key_file(const std::filesystem::path& file, const std::string& line) {
  const std::filesystem::path temporary = file.string() + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << line << '\n';
    if (!out.flush()) {
      throw RecordingError("cannot write " + temporary.string() + ": " + std::strerror(errno));
    }
  }
  std::filesystem::permissions(
      temporary, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                     std::filesystem::perms::group_read | std::filesystem::perms::others_read);
  std::filesystem::rename(temporary, file);
}

}  // namespace

std::filesystem::path public_key_file(const std::filesystem::path& signing_key) {
  return signing_key.string() + ".pub";
}

PublicKey load_public_key(const std::filesystem::path& signing_key, const std::string& node) {
  const std::filesystem::path file = public_key_file(signing_key);
  std::ifstream in(file);
  if (in) {
    std::stringstream text;
    text << in.rdbuf();
    try {
      return parse_public_key_line(text.str());
    } catch (const RecordingError& e) {
      throw RecordingError(file.string() + ": " + e.what() + "; delete it and run `portcullis " +
                           "node pubkey` as the user that owns the signing key to write it again");
    }
  }
  PublicKey key{};
  try {
    key = SigningKey::load(signing_key).public_key();
  } catch (const RecordingError& e) {
    throw RecordingError("no public key file " + file.string() +
                         ", and the signing key cannot "
                         "be read to make one (" +
                         e.what() +
                         "): run `portcullis node pubkey` "
                         "once as the user that owns the signing key");
  }
  try {
    write_public_key_file(file, public_key_line(key, node));
  } catch (const std::exception& e) {
    // The key is known; only later readers lose the shortcut.
    spdlog::warn("cannot write the public key file {}: {}", file.string(), one_line(e.what()));
  }
  return key;
}

}  // namespace portcullis::recorder
