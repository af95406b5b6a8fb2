// Reading a recording into memory, times as the auditor types them, and keyframed seeking.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "player/terminal.h"

namespace portcullis::player {
namespace {

using recorder::Event;
using recorder::EventKind;

bool all_digits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "12" or "12.5" seconds as µs; nullopt when `text` is not that.
std::optional<std::uint64_t> seconds_us(std::string_view text) {
  const std::size_t dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  if (!all_digits(whole) || whole.size() > 9) return std::nullopt;
  std::uint64_t us = std::stoull(std::string(whole)) * 1'000'000;
  if (dot == std::string_view::npos) return us;
  std::string_view fraction = text.substr(dot + 1);
  if (!all_digits(fraction)) return std::nullopt;
  std::string micros(fraction.substr(0, 6));
  micros.resize(6, '0');
  return us + std::stoull(micros);
}

// "1:30", "1:02:03": minutes and seconds, or hours too.
std::optional<std::uint64_t> clock_us(std::string_view text) {
  std::uint64_t total = 0;
  int fields = 0;
  while (true) {
    const std::size_t colon = text.find(':');
    const std::string_view field = text.substr(0, colon);
    if (colon == std::string_view::npos) {
      const auto seconds = seconds_us(field);
      if (!seconds || fields == 0 || fields > 2) return std::nullopt;
      return total * 60'000'000 + *seconds;
    }
    if (!all_digits(field) || field.size() > 6) return std::nullopt;
    total = total * 60 + std::stoull(std::string(field));
    ++fields;
    text.remove_prefix(colon + 1);
  }
}

// "1h2m3s", "90s", "5m".
std::optional<std::uint64_t> units_us(std::string_view text) {
  std::uint64_t total = 0;
  while (!text.empty()) {
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    if (digits == 0 || digits > 9 || digits == text.size()) return std::nullopt;
    const std::uint64_t value = std::stoull(std::string(text.substr(0, digits)));
    const char unit = text[digits];
    const std::uint64_t scale = unit == 'h' ? 3600 : unit == 'm' ? 60 : unit == 's' ? 1 : 0;
    if (scale == 0) return std::nullopt;
    total += value * scale * 1'000'000;
    text.remove_prefix(digits + 1);
  }
  return total;
}

}  // namespace

Recording open_recording(std::string_view file_bytes) {
  const recorder::ParsedRecording parsed = recorder::parse(file_bytes);
  Recording recording;
  recording.header = parsed.header;
  if (parsed.trailer) recording.end_reason = parsed.trailer->end_reason;
  recording.damage = parsed.damage;
  recorder::ChunkDecoder decoder(parsed.version);
  for (const recorder::Chunk& chunk : parsed.chunks) {
    try {
      std::vector<Event> events = decoder.next(chunk);
      std::move(events.begin(), events.end(), std::back_inserter(recording.events));
    } catch (const recorder::RecordingError& e) {
      recording.damage = "chunk " + std::to_string(chunk.seq) + ": " + e.what();
      break;
    }
  }
  if (!recording.events.empty()) recording.duration_us = recording.events.back().at_us;
  return recording;
}

std::optional<recorder::Clock::time_point> parse_rfc3339(std::string_view text) {
  const std::string s(text);
  tm parts{};
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &parts.tm_year, &parts.tm_mon,
                  &parts.tm_mday, &parts.tm_hour, &parts.tm_min, &parts.tm_sec, &consumed) != 6) {
    return std::nullopt;
  }
  parts.tm_year -= 1900;
  parts.tm_mon -= 1;
  std::string_view rest = text.substr(static_cast<std::size_t>(consumed));
  std::int64_t micros = 0;
  if (!rest.empty() && rest.front() == '.') {
    std::size_t digits = 1;
    while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
    micros = static_cast<std::int64_t>(*seconds_us("0" + std::string(rest.substr(0, digits))));
    rest.remove_prefix(digits);
  }
  std::int64_t offset_s = 0;
  if (rest == "Z" || rest == "z") {
    offset_s = 0;
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' &&
             all_digits(rest.substr(1, 2)) && all_digits(rest.substr(4, 2))) {
    offset_s = (std::stoll(std::string(rest.substr(1, 2))) * 60 +
                std::stoll(std::string(rest.substr(4, 2)))) *
               60;
    if (rest[0] == '-') offset_s = -offset_s;
  } else {
    return std::nullopt;
  }
  const std::int64_t epoch_s = static_cast<std::int64_t>(timegm(&parts)) - offset_s;
  return recorder::Clock::time_point(std::chrono::microseconds(epoch_s * 1'000'000 + micros));
}

std::uint64_t parse_time(std::string_view text, recorder::Clock::time_point started_at) {
  if (auto us = seconds_us(text)) return *us;
  if (auto us = clock_us(text)) return *us;
  if (auto us = units_us(text)) return *us;
  if (auto at = parse_rfc3339(text)) {
    if (*at < started_at) {
      throw std::invalid_argument("time " + std::string(text) + " is before the session started");
    }
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(*at - started_at).count());
  }
  throw std::invalid_argument("bad time '" + std::string(text) +
                              "': use seconds (90), M:SS (1:30), 1h2m3s or an RFC 3339 time");
}

std::string format_offset(std::uint64_t at_us) {
  const std::uint64_t s = at_us / 1'000'000;
  char text[32];
  if (s >= 3600) {
    std::snprintf(
        text, sizeof text, "%llu:%02llu:%02llu", static_cast<unsigned long long>(s / 3600),
        static_cast<unsigned long long>(s / 60 % 60), static_cast<unsigned long long>(s % 60));
  } else {
    std::snprintf(text, sizeof text, "%llu:%02llu", static_cast<unsigned long long>(s / 60),
                  static_cast<unsigned long long>(s % 60));
  }
  return text;
}

std::string Screen::text() const {
  std::size_t used = lines.size();
  while (used > 0 && lines[used - 1].empty()) --used;
  std::string out;
  for (std::size_t i = 0; i < used; ++i) out += lines[i] + "\n";
  return out;
}

// ---- Seeker ------------------------------------------------------------------------------

struct Seeker::Keyframe {
  std::size_t next_event = 0;  // the snapshot is the state before this event
  Snapshot snapshot;
};

void apply(Terminal& terminal, const Event& event) {
  if (event.kind == EventKind::output || event.kind == EventKind::error_output) {
    terminal.write(event.data);
  } else if (event.kind == EventKind::resize) {
    terminal.resize(event.cols, event.rows);
  }
}

std::unique_ptr<Terminal> new_terminal(const recorder::Header& header) {
  // A session without a pty still prints lines: show them on a default-sized screen.
  return std::make_unique<Terminal>(header.cols ? header.cols : 80, header.rows ? header.rows : 24);
}

Screen screen_at(const Recording& recording, std::uint64_t at_us) {
  const std::unique_ptr<Terminal> terminal = new_terminal(recording.header);
  for (const Event& event : recording.events) {
    if (event.at_us > at_us) break;
    apply(*terminal, event);
  }
  return terminal->screen();
}

Seeker::Seeker(const Recording& recording, KeyframeOptions options) : recording_(recording) {
  const std::unique_ptr<Terminal> terminal = new_terminal(recording.header);
  keyframes_.push_back({0, terminal->snapshot()});
  std::uint64_t last_us = 0;
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < recording.events.size(); ++i) {
    const Event& event = recording.events[i];
    if (event.at_us - last_us >= options.every_us || bytes >= options.every_bytes) {
      keyframes_.push_back({i, terminal->snapshot()});
      last_us = event.at_us;
      bytes = 0;
    }
    apply(*terminal, event);
    bytes += event.data.size();
  }
}

Seeker::~Seeker() = default;

std::size_t Seeker::keyframes() const { return keyframes_.size(); }

std::unique_ptr<Terminal> Seeker::terminal_at(std::uint64_t at_us, std::size_t& next_event) const {
  const auto& events = recording_.events;
  const std::size_t end = static_cast<std::size_t>(
      std::upper_bound(events.begin(), events.end(), at_us,
                       [](std::uint64_t t, const Event& e) { return t < e.at_us; }) -
      events.begin());
  const auto keyframe = std::prev(
      std::upper_bound(keyframes_.begin(), keyframes_.end(), end,
                       [](std::size_t index, const Keyframe& k) { return index < k.next_event; }));
  auto terminal = std::make_unique<Terminal>(keyframe->snapshot);
  for (std::size_t i = keyframe->next_event; i < end; ++i) apply(*terminal, events[i]);
  next_event = end;
  return terminal;
}

Screen Seeker::screen_at(std::uint64_t at_us) const {
  std::size_t next = 0;
  return terminal_at(at_us, next)->screen();
}

}  // namespace portcullis::player
