// Builds recordings for tests: a fresh node key, and .pcr bytes from a list of events, cut
// into chunks the way the node cuts them (64 KiB or one second).
#pragma once

#include <sodium.h>

#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "recorder/format.h"
#include "recorder/keys.h"
#include "recorder/writer.h"
#include "tests/support/temp_dir.h"

namespace portcullis::test {

inline recorder::SigningKey new_signing_key() {
  if (sodium_init() < 0) throw std::runtime_error("sodium_init");
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_keypair(pk, sk);
  return recorder::SigningKey::from_bytes(
      std::string_view(reinterpret_cast<const char*>(sk), sizeof sk));
}

// A fresh node signing key in DIR/signing.key, mode 0600 as `portcullis init` writes it: for a
// RecordingConfig's signing_key.
inline std::filesystem::path write_signing_key_file(const TempDir& dir) {
  if (sodium_init() < 0) throw std::runtime_error("sodium_init");
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_keypair(pk, sk);
  const std::filesystem::path file =
      dir.write("signing.key", std::string_view(reinterpret_cast<const char*>(sk), sizeof sk));
  std::filesystem::permissions(
      file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  return file;
}

// The key build_recording signs with: its public half verifies the recordings it builds.
inline const recorder::SigningKey& recording_key() {
  static const recorder::SigningKey key = new_signing_key();
  return key;
}

// The header of a session: alice on db01 as postgres under grant 7, an 80x24 xterm.
inline recorder::Header sample_header(std::int64_t session_id = 42) {
  recorder::Header h;
  h.session_id = session_id;
  h.node = "node1";
  h.grant_id = 7;
  h.user = "alice";
  h.target = "db01";
  h.login = "postgres";
  h.reason = "INC-1234 disk full on db01";
  h.ticket = "INC-1234";
  h.approvals = {{"bob", recorder::Clock::time_point(std::chrono::seconds(1764046800))}};
  h.client = "192.0.2.10:50022";
  h.started_at = recorder::Clock::time_point(std::chrono::microseconds(1764046860123456));
  h.cols = 80;
  h.rows = 24;
  h.term = "xterm-256color";
  return h;
}

// The events cut into chunks the way the node cuts them (64 KiB or 1 s of recording time).
inline std::vector<recorder::ChunkBuffer> chunks_of(const std::vector<recorder::Event>& events) {
  recorder::ChunkBuffer buffer;
  std::vector<recorder::ChunkBuffer> chunks;
  for (const recorder::Event& event : events) {
    if (!buffer.empty() &&
        (buffer.size() >= recorder::kChunkBytes || event.at_us >= buffer.first_us() + 1'000'000)) {
      chunks.push_back(buffer.take());
    }
    buffer.add(event);
  }
  if (!buffer.empty()) chunks.push_back(buffer.take());
  return chunks;
}

// Writes `events` as a complete recording into `dir` and returns the file's bytes.
inline std::string build_recording(const std::filesystem::path& dir, recorder::Header header,
                                   const std::vector<recorder::Event>& events) {
  auto created = recorder::SpoolWriter::create(dir, std::move(header), recording_key());
  if (auto* error = std::get_if<std::error_code>(&created)) {
    throw std::system_error(*error, "create spool");
  }
  recorder::SpoolWriter writer = std::move(std::get<recorder::SpoolWriter>(created));
  if (writer.append(chunks_of(events)) || writer.finish("client_exit")) {
    throw std::runtime_error("writing the test recording failed");
  }
  std::ifstream in(writer.path(), std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace portcullis::test
