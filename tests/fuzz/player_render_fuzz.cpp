// The player's decode-and-render path: a recording written by the node's own writer from
// events the recorded person controls (the pty size, every resize, every byte of output), read
// back with open_recording and played through libvterm into screens, keyframes, exports,
// commands, search and a replay. None of it may crash or exhaust the auditor's machine.
//
// Input: which passes to run (u8, a bit each), header cols and rows (a size byte each), then
// events: kind (u8), time step (u8, tenths of a second), and for a resize cols and rows (a size
// byte each), else a length byte and that many bytes. A size byte below 240 is the size itself;
// the 16 values above it are the hostile ones (0, the clamp limits and past them, up to 65535):
// most inputs stay small and fast, and every one of them can still ask for any of those.
#include <sodium.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <variant>
#include <vector>

#include "player/player.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/support/recording_builder.h"

namespace {

namespace fs = std::filesystem;
namespace player = portcullis::player;
namespace recorder = portcullis::recorder;

// Enough for keyframes, scrolling and full-screen programs, few enough to stay fast.
constexpr int kMaxEvents = 64;

constexpr std::uint16_t kHostileSizes[] = {0,    1,     999,   1000,  1001,  1024,  4096,  8192,
                                           9999, 10000, 16384, 32767, 32768, 65000, 65534, 65535};

std::uint16_t size_from(portcullis::fuzz::FuzzInput& in) {
  const std::uint8_t byte = in.u8();
  return byte < 240 ? byte : kHostileSizes[byte - 240];
}

recorder::Header header_from(portcullis::fuzz::FuzzInput& in) {
  recorder::Header header;
  header.session_id = ::getpid();  // the spool file's name
  header.node = "node1";
  header.user = "alice";
  header.target = "db01";
  header.login = "postgres";
  header.started_at = recorder::Clock::time_point(std::chrono::seconds(1764046860));
  header.cols = size_from(in);
  header.rows = size_from(in);
  header.term = "xterm-256color";
  return header;
}

std::vector<recorder::Event> events_from(portcullis::fuzz::FuzzInput& in) {
  std::vector<recorder::Event> events;
  std::uint64_t at_us = 0;
  for (int i = 0; i < kMaxEvents && !in.empty(); ++i) {
    recorder::Event event;
    event.kind = static_cast<recorder::EventKind>(in.u8() % 6 + 1);
    at_us += std::uint64_t{in.u8()} * 100'000;
    event.at_us = at_us;
    if (event.kind == recorder::EventKind::resize) {
      event.cols = size_from(in);
      event.rows = size_from(in);
    } else {
      event.data = in.bytes(255);
    }
    events.push_back(std::move(event));
  }
  return events;
}

// A fixed node key: the same input always makes the same recording.
const recorder::SigningKey& node_key() {
  static const recorder::SigningKey key = [] {
    if (sodium_init() < 0) std::abort();
    unsigned char seed[crypto_sign_SEEDBYTES] = {42};
    unsigned char public_key[crypto_sign_PUBLICKEYBYTES];
    unsigned char secret_key[crypto_sign_SECRETKEYBYTES];
    crypto_sign_seed_keypair(public_key, secret_key, seed);
    return recorder::SigningKey::from_bytes(
        std::string_view(reinterpret_cast<const char*>(secret_key), sizeof secret_key));
  }();
  return key;
}

// In memory when /dev/shm exists: the writer syncs what it writes. One folder for every process
// (fork mode starts many), each writing <pid>.pcr and removing it once read.
fs::path spool_dir() {
  const fs::path base = fs::is_directory("/dev/shm") ? "/dev/shm" : fs::temp_directory_path();
  const fs::path dir = base / "portcullis-fuzz-player-render";
  fs::create_directories(dir);
  return dir;
}

// The .pcr bytes the node would write, cut into chunks the way it cuts them (64 KiB or 1 s).
std::string write_recording(recorder::Header header, const std::vector<recorder::Event>& events) {
  static const fs::path dir = spool_dir();
  auto created = recorder::SpoolWriter::create(dir, std::move(header), node_key());
  if (std::holds_alternative<std::error_code>(created)) std::abort();
  recorder::SpoolWriter writer = std::move(std::get<recorder::SpoolWriter>(created));
  if (writer.append(portcullis::test::chunks_of(events), recorder::SpoolWriter::Sync::later) ||
      writer.finish("client_exit")) {
    std::abort();
  }
  std::ifstream in(writer.path(), std::ios::binary);
  std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  fs::remove(writer.path());
  return bytes;
}

// Time stands still unless the test moves it.
class FrozenClock : public player::ReplayClock {
 public:
  std::chrono::steady_clock::time_point now() override { return now_; }
  void advance(std::chrono::microseconds by) { now_ += by; }

 private:
  std::chrono::steady_clock::time_point now_{};
};

void replay(const player::Recording& recording, const player::Seeker& seeker) {
  FrozenClock clock;
  player::ReplayOptions options;
  options.speed = 4;
  options.idle_limit_us = 1'000'000;
  player::Replay replay(recording, seeker, options, clock);
  replay.advance();
  clock.advance(std::chrono::seconds(1));
  replay.advance();
  replay.paint();
  replay.status_line("notice");
  replay.seek_to(recording.duration_us / 3);
  replay.advance();
  replay.seek_by(-1'000'000);
  replay.paint();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  portcullis::fuzz::FuzzInput in(data, size);
  // Each pass renders the whole recording again: running only some per input keeps the fuzzer
  // fast, and a pass that crashes is named by the input's first byte.
  const std::uint8_t passes = in.u8();
  recorder::Header header = header_from(in);
  const std::vector<recorder::Event> events = events_from(in);
  const std::string file = write_recording(std::move(header), events);
  const player::Recording recording = player::open_recording(file);
  const std::uint64_t middle = recording.duration_us / 2;
  if (passes & 0x01) player::screen_at(recording, middle).text();
  if (passes & 0x02) player::export_text(recording);
  if (passes & 0x04) player::export_commands(recording);
  if (passes & 0x08) player::export_asciicast(recording);
  if (passes & 0x10) {
    player::search(recording, [](std::string_view line) { return line.find('$') != line.npos; });
  }
  if (passes & 0x60) {
    const player::Seeker seeker(recording, player::KeyframeOptions{1'000'000, 512});
    if (passes & 0x20) seeker.screen_at(middle);
    if (passes & 0x40) replay(recording, seeker);
  }
  return 0;
}
