// Seek benchmark for the player: generates a one-hour recording (a shell with bursts of output
// and a full-screen editor now and then), then times the one pass that builds the keyframes and
// random seeks. Prints the figures (a markdown table; also into --markdown FILE); `--keep FILE`
// keeps the generated .pcr for trying the CLI. A missed target is reported, not an error.
// Usage: player_bench [--minutes N] [--seeks N] [--markdown FILE] [--keep FILE]
#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/options.h"
#include "player/player.h"
#include "recorder/keys.h"
#include "recorder/writer.h"

namespace {

using portcullis::recorder::Event;
using portcullis::recorder::EventKind;

struct Options {
  int minutes = 60;
  int seeks = 100;
  std::string markdown;
  std::string keep;
};

Options parse_options(int argc, char** argv) {
  Options options;
  portcullis::bench::FlagParser()
      .number("--minutes", options.minutes)
      .number("--seeks", options.seeks)
      .text("--markdown", options.markdown)
      .text("--keep", options.keep)
      .parse(argc, argv);
  return options;
}

// About 20 MB of output an hour: a command every 2 s, its output, and a vim session every 5
// minutes.
std::vector<Event> generate(int minutes) {
  const std::uint64_t length = static_cast<std::uint64_t>(minutes) * 60 * 1'000'000;
  std::vector<Event> events;
  std::mt19937 random(42);
  std::uint64_t at = 0;
  for (int i = 0; at < length; ++i) {
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

double percentile(const std::vector<double>& sorted, int p) {
  return sorted[std::min(sorted.size() - 1, sorted.size() * static_cast<std::size_t>(p) / 100)];
}

int run(const Options& options) {
  namespace player = portcullis::player;
  char dir[] = "/tmp/player-bench-XXXXXX";
  if (mkdtemp(dir) == nullptr) throw std::runtime_error("cannot make a temporary folder");
  const std::string bytes = write_recording(generate(options.minutes), dir);
  std::filesystem::remove(dir);
  if (!options.keep.empty()) std::ofstream(options.keep) << bytes;

  auto start = std::chrono::steady_clock::now();
  const player::Recording recording = player::open_recording(bytes);
  const double open_ms = ms_since(start);
  start = std::chrono::steady_clock::now();
  const player::Seeker seeker(recording);
  const double build_ms = ms_since(start);

  std::mt19937_64 random(7);
  std::vector<double> seeks;
  for (int i = 0; i < options.seeks; ++i) {
    start = std::chrono::steady_clock::now();
    const player::Screen screen = seeker.screen_at(random() % recording.duration_us);
    seeks.push_back(ms_since(start));
  }
  std::sort(seeks.begin(), seeks.end());
  char table[1024];
  std::snprintf(
      table, sizeof table,
      "| seek | p50 (ms) | p99 (ms) | max (ms) | target |\n|---|---|---|---|---|\n"
      "| %d random points in a %.0f min recording | %.1f | %.1f | %.1f | p99 < 100 ms: %s |\n\n"
      "%zu events, %.1f MB stored; opening (checking) it took %.0f ms and building its %zu "
      "screen keyframes, once per file, %.0f ms.\n",
      options.seeks, static_cast<double>(recording.duration_us) / 60e6, percentile(seeks, 50),
      percentile(seeks, 99), seeks.back(), percentile(seeks, 99) < 100 ? "met" : "MISSED",
      static_cast<std::size_t>(recording.event_count), static_cast<double>(bytes.size()) / 1e6,
      open_ms, seeker.keyframes(), build_ms);
  std::fputs(table, stdout);
  if (!options.markdown.empty()) std::ofstream(options.markdown) << table;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse_options(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "player_bench: %s\n", e.what());
    return 1;
  }
}
