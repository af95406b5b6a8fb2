// Seek benchmark for the player: generates a one-hour recording (a shell with bursts of output
// and a full-screen editor now and then), then times the one pass that builds the keyframes and
// random seeks. Prints the figures; `--keep FILE` keeps the generated .pcr for trying the CLI.
#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "player/player.h"

namespace {

using portcullis::recorder::Event;
using portcullis::recorder::EventKind;

constexpr std::uint64_t kHour = 3600ULL * 1'000'000;

// About 20 MB of output over an hour: a command every 2 s, its output, and a vim session
// every 5 minutes.
std::vector<Event> generate() {
  std::vector<Event> events;
  std::mt19937 random(42);
  std::uint64_t at = 0;
  for (int i = 0; at < kHour; ++i) {
    at += 2'000'000;
    const std::string command = "cat log" + std::to_string(i) + ".txt";
    events.push_back({EventKind::input, at, command + "\r"});
    events.push_back({EventKind::output, at + 100, command + "\r\n"});
    if (i % 150 == 0) {
      events.push_back({EventKind::output, at + 200, "\x1b[?1049h\x1b[H\x1b[2J~\r\n~\r\n"});
      events.push_back({EventKind::output, at + 300'000, "\x1b[?1049l"});
    }
    std::string output;
    for (int line = 0; line < 80; ++line) {
      output += "2026-11-25 10:" + std::to_string(random() % 60) + " \x1b[32mINFO\x1b[0m request " +
                std::to_string(random()) + " served in " + std::to_string(random() % 1000) +
                " ms\r\n";
    }
    events.push_back({EventKind::output, at + 500'000, output + "$ "});
  }
  return events;
}

std::string write_recording(const std::vector<Event>& events, const std::string& dir) {
  using namespace portcullis::recorder;
  if (sodium_init() < 0) throw std::runtime_error("sodium_init");
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_keypair(pk, sk);
  const SigningKey key =
      SigningKey::from_bytes(std::string_view(reinterpret_cast<const char*>(sk), sizeof sk));
  Header header;
  header.session_id = 1;
  header.user = "alice";
  header.target = "db01";
  header.login = "postgres";
  header.reason = "seek benchmark";
  header.started_at = Clock::now();
  header.cols = 120;
  header.rows = 40;
  header.term = "xterm-256color";
  auto created = SpoolWriter::create(dir, header, key);
  SpoolWriter writer = std::move(std::get<SpoolWriter>(created));
  ChunkBuffer buffer;
  for (const Event& event : events) {
    if (!buffer.empty() &&
        (buffer.size() >= kChunkBytes || event.at_us >= buffer.first_us() + 1'000'000)) {
      if (writer.append(buffer.take())) throw std::runtime_error("append");
    }
    buffer.add(event);
  }
  if (writer.append(buffer.take()) || writer.finish("client_exit")) {
    throw std::runtime_error("finish");
  }
  std::ifstream in(writer.path(), std::ios::binary);
  std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  std::remove(writer.path().c_str());
  return bytes;
}

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  namespace player = portcullis::player;
  char dir[] = "/tmp/player-bench-XXXXXX";
  if (mkdtemp(dir) == nullptr) return 1;
  const std::string bytes = write_recording(generate(), dir);
  std::filesystem::remove(dir);
  if (argc == 3 && std::string(argv[1]) == "--keep") std::ofstream(argv[2]) << bytes;

  auto start = std::chrono::steady_clock::now();
  const player::Recording recording = player::open_recording(bytes);
  const double open_ms = ms_since(start);
  start = std::chrono::steady_clock::now();
  const player::Seeker seeker(recording);
  const double build_ms = ms_since(start);

  std::mt19937_64 random(7);
  std::vector<double> seeks;
  for (int i = 0; i < 200; ++i) {
    start = std::chrono::steady_clock::now();
    const player::Screen screen = seeker.screen_at(random() % recording.duration_us);
    seeks.push_back(ms_since(start));
  }
  std::sort(seeks.begin(), seeks.end());
  std::printf(
      "recording: %.0f min, %zu events, %.1f MB stored\n"
      "open (decode): %.0f ms; keyframes: %zu built in %.0f ms\n"
      "seek (200 random): median %.1f ms, p99 %.1f ms, max %.1f ms (target < 100 ms)\n",
      static_cast<double>(recording.duration_us) / 60e6, recording.events.size(),
      static_cast<double>(bytes.size()) / 1e6, open_ms, seeker.keyframes(), build_ms,
      seeks[seeks.size() / 2], seeks[seeks.size() * 99 / 100], seeks.back());
  return seeks.back() < 100 ? 0 : 1;
}
