// Reading a recording into memory, times as the auditor types them, and keyframed seeking.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <limits>
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

Recording open_recording(recorder::RecordStream stream,
                         const std::vector<recorder::PublicKey>& known_keys) {
  Recording recording;
  recording.header = stream.header();
  // One pass over the records, hashing but not decompressing: the totals and the verdict.
  recorder::StreamVerifier verifier(stream);
  for (recorder::Chunk chunk; stream.next_chunk(chunk);) {
    verifier.add(chunk);
    recording.event_count += chunk.event_count;
    recording.duration_us = std::max(recording.duration_us, chunk.last_us);
  }
  if (stream.trailer()) recording.end_reason = stream.trailer()->end_reason;
  recording.damage = stream.damage();
  recording.integrity = verifier.finish(stream, known_keys);
  recording.stream = std::make_shared<const recorder::RecordStream>(stream.reopen());
  return recording;
}

Recording open_recording_file(const std::filesystem::path& file,
                              const std::vector<recorder::PublicKey>& known_keys) {
  return open_recording(recorder::RecordStream::open_file(file), known_keys);
}

Recording open_recording(std::string_view file_bytes,
                         const std::vector<recorder::PublicKey>& known_keys) {
  return open_recording(recorder::RecordStream::own(std::string(file_bytes)), known_keys);
}

void visit_events(const Recording& recording,
                  const std::function<void(const recorder::Event&)>& visit) {
  for_each_event(recording, {}, visit);
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
  // What the clock (64-bit nanoseconds) can hold: years 1678 to 2261 (found by time_fuzz).
  constexpr std::int64_t kLimit = std::numeric_limits<std::int64_t>::max() / 1'000'000'000 - 1;
  if (epoch_s > kLimit || epoch_s < -kLimit) return std::nullopt;
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

// ---- EventCursor ---------------------------------------------------------------------------

EventCursor::EventCursor(const Recording& recording)
    : recording_(recording),
      stream_(recording.stream->reopen()),
      decoder_(stream_.version()),
      chunk_offset_(stream_.position()) {}

EventCursor::EventCursor(const Recording& recording, const EventPosition& position)
    : recording_(recording),
      stream_(recording.stream->reopen()),
      decoder_(stream_.version(), position.history),
      chunk_offset_(position.chunk_offset),
      chunk_index_(position.chunk_index),
      ordinal_(position.ordinal) {
  stream_.seek(position.chunk_offset, position.chunk_index);
  if (position.index > 0 && load_next_chunk()) index_ = std::min(position.index, events_.size());
}

bool EventCursor::load_next_chunk() {
  if (done_) return false;
  chunk_offset_ = stream_.position();
  chunk_index_ = stream_.position_index();
  history_before_ = decoder_.history();
  events_.clear();
  index_ = 0;
  recorder::Chunk chunk;
  if (!stream_.next_chunk(chunk)) {
    done_ = true;
    return false;
  }
  try {
    events_ = decoder_.next(chunk);
    return true;
  } catch (const recorder::RecordingError& e) {
    if (recording_.damage.empty()) recording_.damage = e.what();
    done_ = true;
    return false;
  }
}

const Event* EventCursor::peek() {
  while (index_ >= events_.size()) {
    if (!load_next_chunk()) return nullptr;
  }
  return &events_[index_];
}

void EventCursor::pop() {
  if (peek() == nullptr) return;
  ++index_;
  ++ordinal_;
}

EventPosition EventCursor::position() const {
  if (index_ < events_.size()) {
    return {chunk_offset_, chunk_index_, history_before_, index_, ordinal_};
  }
  return {stream_.position(), stream_.position_index(), decoder_.history(), 0, ordinal_};
}

// ---- Seeker ------------------------------------------------------------------------------

struct Seeker::Keyframe {
  std::uint64_t before_us = 0;       // every event before `position` happened by then
  EventPosition position;            // the first event the snapshot does not include
  std::optional<Snapshot> snapshot;  // none: a fresh terminal of the recording's size
  std::optional<Event> last_marker;
  std::size_t bytes = 0;  // memory held, roughly
};

void apply(Terminal& terminal, const Event& event) {
  if (event.kind == EventKind::output || event.kind == EventKind::error_output) {
    terminal.write(event.data);
  } else if (event.kind == EventKind::resize) {
    terminal.resize(event.cols, event.rows);  // clamped by the terminal
  }
}

std::unique_ptr<Terminal> new_terminal(const recorder::Header& header) {
  // A session without a pty still prints lines: show them on a default-sized screen.
  return std::make_unique<Terminal>(clamp_cols(header.cols), clamp_rows(header.rows));
}

Screen screen_at(const Recording& recording, std::uint64_t at_us) {
  const std::unique_ptr<Terminal> terminal = new_terminal(recording.header);
  EventCursor cursor(recording);
  for (const Event* event; (event = cursor.peek()) != nullptr && event->at_us <= at_us;
       cursor.pop()) {
    apply(*terminal, *event);
  }
  return terminal->screen();
}

namespace {

std::size_t grid_bytes(const Grid& grid) { return grid.cells.size() * sizeof(VTermScreenCell); }

std::size_t snapshot_bytes(const Snapshot& snapshot) {
  return grid_bytes(snapshot.visible) + (snapshot.primary ? grid_bytes(*snapshot.primary) : 0);
}

}  // namespace

Seeker::Seeker(const Recording& recording, KeyframeOptions options) : recording_(recording) {
  const std::unique_ptr<Terminal> terminal = new_terminal(recording.header);
  EventCursor cursor(recording);
  keyframes_.push_back({0, cursor.position(), std::nullopt, std::nullopt, 0});
  std::uint64_t last_keyframe_us = 0, applied_us = 0;
  std::size_t bytes = 0;
  std::optional<Event> marker;
  for (const Event* event; (event = cursor.peek()) != nullptr; cursor.pop()) {
    if (event->at_us - last_keyframe_us >= options.every_us || bytes >= options.every_bytes) {
      Keyframe keyframe{applied_us, cursor.position(), terminal->snapshot(), marker, 0};
      keyframe.bytes = snapshot_bytes(*keyframe.snapshot) + keyframe.position.history.size() +
                       (marker ? marker->data.size() : 0);
      add_keyframe(std::move(keyframe), options);
      last_keyframe_us = event->at_us;
      bytes = 0;
    }
    apply(*terminal, *event);
    if (event->kind == EventKind::marker) marker = *event;
    applied_us = event->at_us;
    bytes += event->data.size();
  }
}

// Past the budget, every other keyframe goes (the first, a fresh terminal, always stays) and the
// intervals double: memory stays bounded, a seek replays at most twice as much.
void Seeker::add_keyframe(Keyframe keyframe, KeyframeOptions& options) {
  keyframe_bytes_ += keyframe.bytes;
  keyframes_.push_back(std::move(keyframe));
  while (keyframe_bytes_ > options.memory_budget && keyframes_.size() > 1) {
    std::vector<Keyframe> kept;
    keyframe_bytes_ = 0;
    for (std::size_t i = 0; i < keyframes_.size(); i += 2) {
      keyframe_bytes_ += keyframes_[i].bytes;
      kept.push_back(std::move(keyframes_[i]));
    }
    keyframes_ = std::move(kept);
    options.every_us *= 2;
    options.every_bytes *= 2;
  }
}

Seeker::~Seeker() = default;

std::size_t Seeker::keyframes() const { return keyframes_.size(); }

std::size_t Seeker::keyframe_bytes() const { return keyframe_bytes_; }

SeekResult Seeker::seek(std::uint64_t at_us) const {
  const auto keyframe = std::prev(
      std::upper_bound(keyframes_.begin(), keyframes_.end(), at_us,
                       [](std::uint64_t t, const Keyframe& k) { return t < k.before_us; }));
  SeekResult result;
  result.terminal = keyframe->snapshot ? std::make_unique<Terminal>(*keyframe->snapshot)
                                       : new_terminal(recording_.header);
  result.cursor = std::make_unique<EventCursor>(recording_, keyframe->position);
  result.last_marker = keyframe->last_marker;
  for (const Event* event; (event = result.cursor->peek()) != nullptr && event->at_us <= at_us;
       result.cursor->pop()) {
    apply(*result.terminal, *event);
    if (event->kind == EventKind::marker) result.last_marker = *event;
  }
  return result;
}

Screen Seeker::screen_at(std::uint64_t at_us) const { return seek(at_us).terminal->screen(); }

}  // namespace portcullis::player
