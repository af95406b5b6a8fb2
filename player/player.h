// Public interface of the `player` library: what an auditor does with a recording once it is
// read — the screen at any moment (libvterm), exports (asciicast v2, text, commands), the
// commands typed at the prompt, text search, and the timing of a replay.
//
// Everything here works on one recording held in memory (decoded once); nothing touches the
// database or the user's terminal, so the CLI stays thin and the logic testable.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "recorder/recorder.h"

namespace portcullis::player {

// A recording decoded into memory: the header and every event, in time order.
struct Recording {
  recorder::Header header;
  std::vector<recorder::Event> events;
  std::uint64_t duration_us = 0;  // time of the last event
  std::string end_reason;         // from the trailer; "" when the recording is incomplete
  std::string damage;             // why reading stopped early, "" when every chunk decoded
};

// Decodes a spool or .pcr file. Stops at the first chunk that does not decode and says so in
// `damage`, so an auditor still sees everything before it. Throws recorder::RecordingError when
// the bytes are not a recording at all.
Recording open_recording(std::string_view file_bytes);

// TIME as the commands take it: seconds ("90", "12.5"), "1:30", "1:02:03", "1h2m3s", or an
// RFC 3339 timestamp ("2026-11-25T10:01:30Z", "...+02:00"). Returns µs since the session
// start. Throws std::invalid_argument for anything else or a timestamp before the start.
std::uint64_t parse_time(std::string_view text, recorder::Clock::time_point started_at);
// "2026-11-25T10:01:30Z", with an optional fraction and a "+HH:MM"/"-HH:MM" offset instead of
// Z; nullopt for anything else.
std::optional<recorder::Clock::time_point> parse_rfc3339(std::string_view text);
// µs since the start as "M:SS" or "H:MM:SS" (tenths dropped), the form parse_time reads back.
std::string format_offset(std::uint64_t at_us);

// The terminal screen at one moment, as text.
struct Screen {
  int cols = 0, rows = 0;
  std::vector<std::string> lines;  // UTF-8, one per row, trailing blanks trimmed
  int cursor_row = 0, cursor_col = 0;
  bool cursor_visible = true;
  bool alt_screen = false;   // a full-screen program (vim, less, top) owns the screen
  std::string text() const;  // lines joined with '\n', trailing empty lines dropped
};

// The screen once every event at or before `at_us` has been applied, by one pass that stops
// there: for a single question, cheaper than a Seeker, which reads the whole recording.
Screen screen_at(const Recording& recording, std::uint64_t at_us);

class Terminal;  // a libvterm terminal (player/terminal.h)

// How often the seeker stores a screen keyframe while it reads the recording once.
struct KeyframeOptions {
  std::uint64_t every_us = 10'000'000;                // of recording time
  std::size_t every_bytes = std::size_t{128} * 1024;  // of output
};

// Seeks anywhere in a recording without replaying it from the start: built once per recording
// (one pass through libvterm), it keeps keyframes and replays at most one interval. It refers to
// the recording, which must outlive it.
class Seeker {
 public:
  explicit Seeker(const Recording& recording, KeyframeOptions options = {});
  ~Seeker();
  Seeker(const Seeker&) = delete;
  Seeker& operator=(const Seeker&) = delete;

  // The screen once every event at or before `at_us` has been applied.
  Screen screen_at(std::uint64_t at_us) const;
  // A terminal in that state, and the index of the first event after `at_us`.
  std::unique_ptr<Terminal> terminal_at(std::uint64_t at_us, std::size_t& next_event) const;
  std::size_t keyframes() const;

 private:
  struct Keyframe;
  const Recording& recording_;
  std::vector<Keyframe> keyframes_;
};

// Told how far a pass through a recording has got: `done` of `total` events. Exports, command
// extraction and search call it after every event; the caller decides how often to show it.
using Progress = std::function<void(std::size_t done, std::size_t total)>;

// asciicast v2 (asciinema): a header naming the session, grant and reason, then one JSON array
// per event: "o" output (stdout and stderr), "i" input, "r" resize "COLSxROWS", "m" markers and
// exec command lines.
std::string export_asciicast(const Recording& recording, const Progress& progress = {});
// What was on the screen, as plain lines: every line that scrolled off, then the last screen.
std::string export_text(const Recording& recording, const Progress& progress = {});

// A command line as it stood on the screen when Enter was pressed (after line editing,
// history recall and tab completion), without the prompt; or the command of an exec request.
struct Command {
  std::uint64_t at_us = 0;  // when Enter was pressed
  std::string line;
};
std::vector<Command> extract_commands(const Recording& recording, const Progress& progress = {});
// One line per command: "M:SS  command".
std::string export_commands(const Recording& recording, const Progress& progress = {});

// A line of rendered output that contains what was searched for.
struct Match {
  std::uint64_t at_us = 0;  // when the line appeared on the screen
  std::string line;
};
using LineMatcher = std::function<bool(std::string_view line)>;
// Each time a matching line appears on the screen (a line scrolling up is not a new one), and
// exec command lines that match. Keystrokes are not searched: they may hold passwords.
std::vector<Match> search(const Recording& recording, const LineMatcher& matches,
                          const Progress& progress = {});

// "terminal 80x24 smaller than recorded 120x40" when the viewer's terminal is narrower or
// shorter than the recorded one (the replay would be cut at its edges), else "".
std::string size_notice(int viewer_cols, int viewer_rows, int recorded_cols, int recorded_rows);

// ---- replay ---------------------------------------------------------------------------

// The replay's notion of "now", injected so tests need no real sleeping.
class ReplayClock {
 public:
  virtual ~ReplayClock() = default;
  virtual std::chrono::steady_clock::time_point now() = 0;
};

struct ReplayOptions {
  double speed = 1.0;
  std::optional<std::uint64_t> idle_limit_us;  // longer pauses are shortened to this
  std::uint64_t from_us = 0;
};

// Drives a replay: maps the clock onto recording time (speed, idle limit, pause, seeks) and
// applies the due events to a terminal. The caller writes what it renders and waits at most
// until_next() before calling advance() again. Recording, seeker and clock must outlive it.
class Replay {
 public:
  static constexpr double kMaxSpeed = 64.0;

  Replay(const Recording& recording, const Seeker& seeker, ReplayOptions options,
         ReplayClock& clock);
  ~Replay();

  // Applies every event now due; returns the number applied (a seek counts as one).
  std::size_t advance();
  // How long until the next event is due (max() when paused or finished).
  std::chrono::microseconds until_next();

  void toggle_pause();
  void faster();  // doubles the speed, up to kMaxSpeed
  void slower();  // halves it, down to 1/kMaxSpeed
  void seek_by(std::int64_t delta_us);
  void seek_to(std::uint64_t at_us);

  std::uint64_t position_us();  // recording time now
  double speed() const { return speed_; }
  bool paused() const { return paused_; }
  bool finished() const;
  Screen screen() const;
  // The size of the recorded terminal now (it follows recorded resizes).
  int cols() const;
  int rows() const;
  // Escape sequences that draw every cell of the current screen from the top-left corner of a
  // real terminal.
  std::string paint() const;
  // "playing  1:02 / 10:00  2x  [NOTICE]  session 42 alice@db01  [grant_warning 5m]  [keys]":
  // the last marker shows for 10 s of recording time; the notice (if any) comes early so that
  // a narrow terminal still shows it.
  std::string status_line(const std::string& notice = "");

 private:
  // Playback time: recording time with idle gaps shortened to the limit.
  std::uint64_t playback_of(std::uint64_t at_us) const;
  std::uint64_t recording_of(std::uint64_t playback_us) const;
  std::uint64_t playback_now();
  void restart_at(std::uint64_t playback_us);
  std::string recent_marker();

  const Recording& recording_;
  const Seeker& seeker_;
  ReplayClock& clock_;
  std::optional<std::uint64_t> idle_limit_us_;
  std::vector<std::uint64_t> playback_us_;  // per event
  std::unique_ptr<Terminal> terminal_;
  std::size_t next_ = 0;
  double speed_ = 1.0;
  bool paused_ = false;
  // Playback position `anchor_playback_` was reached at `anchor_time_`.
  std::uint64_t anchor_playback_ = 0;
  std::chrono::steady_clock::time_point anchor_time_;
};

}  // namespace portcullis::player
