// Public interface of the `player` library: what an auditor does with a recording once it is
// read — the screen at any moment (libvterm), exports (asciicast v2, text, commands), the
// commands typed at the prompt, text search, and the timing of a replay.
//
// A recording is streamed, never held: every pass reads it a chunk at a time, so memory stays
// bounded whatever its size. Nothing here touches the database or the user's terminal, so the
// CLI stays thin and the logic testable. Recorded bytes are hostile: sizes are clamped before
// they reach libvterm, and the integrity of every recording is checked as it is opened.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "recorder/reader.h"

namespace portcullis::player {

// libvterm 0.1 does not check its allocations (vterm_new(65535, 65535) crashes): every size
// from a recording is clamped to this before it reaches a terminal or an export.
constexpr int kMaxTerminalCols = 1000;
constexpr int kMaxTerminalRows = 1000;
int clamp_cols(int cols);  // 1..kMaxTerminalCols; 0 (no pty) becomes 80
int clamp_rows(int rows);  // 1..kMaxTerminalRows; 0 (no pty) becomes 24

// An opened recording: its header and what one pass through its records found (totals,
// integrity). The events are not kept: each pass streams them from `stream`.
struct Recording {
  recorder::Header header;
  std::uint64_t duration_us = 0;  // time of the last event
  std::uint64_t event_count = 0;  // as the chunk headers count them (for progress)
  std::string end_reason;         // from the trailer; "" when the recording is incomplete
  // Why reading stops early, "" when every chunk decoded. A pass that meets a chunk that does
  // not decode stops there and notes it here (hence mutable: passes take the recording const).
  mutable std::string damage;
  // Verified only when the chain is whole, a trailer closes it and a known node key signed it.
  recorder::Integrity integrity;
  std::shared_ptr<const recorder::RecordStream> stream;  // passes read copies of it
};

// Opens a recording read from a file, a chunk at a time. The signature is checked against
// `known_keys` (none: the recording cannot be verified). Throws recorder::RecordingError when
// the bytes are not a recording at all; damage after the header is reported in the result.
Recording open_recording_file(const std::filesystem::path& file,
                              const std::vector<recorder::PublicKey>& known_keys = {});
// The same over bytes in memory (copied).
Recording open_recording(std::string_view file_bytes,
                         const std::vector<recorder::PublicKey>& known_keys = {});
Recording open_recording(recorder::RecordStream stream,
                         const std::vector<recorder::PublicKey>& known_keys);

// Calls `visit` with every event in order, streaming: for tools and tests.
void visit_events(const Recording& recording,
                  const std::function<void(const recorder::Event&)>& visit);

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

class Terminal;     // a libvterm terminal (player/terminal.h)
struct SeekResult;  // a terminal and where to read on (player/terminal.h)

// How often the seeker stores a screen keyframe while it reads the recording once.
struct KeyframeOptions {
  std::uint64_t every_us = 10'000'000;                // of recording time
  std::size_t every_bytes = std::size_t{128} * 1024;  // of output
  // Keyframes never take more than this: past it every other one is dropped and the intervals
  // double, so a huge recording keeps fewer keyframes instead of more memory.
  std::size_t memory_budget = std::size_t{48} << 20;
};

// Seeks anywhere in a recording without replaying it from the start: built once per recording
// (one pass through libvterm), it keeps keyframes (a screen snapshot and where to resume
// reading) and replays at most one interval. It refers to the recording, which must outlive it.
class Seeker {
 public:
  explicit Seeker(const Recording& recording, KeyframeOptions options = {});
  ~Seeker();
  Seeker(const Seeker&) = delete;
  Seeker& operator=(const Seeker&) = delete;

  // The screen once every event at or before `at_us` has been applied.
  Screen screen_at(std::uint64_t at_us) const;
  // A terminal in that state and a reader at the first event after `at_us`.
  SeekResult seek(std::uint64_t at_us) const;
  std::size_t keyframes() const;
  std::size_t keyframe_bytes() const;  // memory the keyframes hold

 private:
  struct Keyframe;
  void add_keyframe(Keyframe keyframe, KeyframeOptions& options);
  const Recording& recording_;
  std::vector<Keyframe> keyframes_;
  std::size_t keyframe_bytes_ = 0;
};

// Told how far a pass through a recording has got: `done` of `total` events. Exports, command
// extraction and search call it after every event; the caller decides how often to show it.
using Progress = std::function<void(std::size_t done, std::size_t total)>;

// asciicast v2 (asciinema): a header naming the session, grant and reason, then one JSON array
// per event: "o" output (stdout and stderr), "i" input, "r" resize "COLSxROWS", "m" markers and
// exec command lines. The recorded bytes are kept (JSON-escaped; bytes that are not UTF-8 become
// U+FFFD); sizes are clamped like the player's.
void export_asciicast(const Recording& recording, std::ostream& out, const Progress& progress = {});
// What was on the screen, as plain lines: every line that scrolled off, then the last screen.
// Inert (inert_text): controls and bytes that are not UTF-8 are written visibly.
void export_text(const Recording& recording, std::ostream& out, const Progress& progress = {});
// The same into a string, for tests and small recordings.
std::string export_asciicast(const Recording& recording, const Progress& progress = {});
std::string export_text(const Recording& recording, const Progress& progress = {});

// A command line as it stood on the screen when Enter was pressed (after line editing,
// history recall and tab completion), without the prompt; or the command of an exec request.
struct Command {
  std::uint64_t at_us = 0;  // when Enter was pressed
  std::string line;
  // Who pressed Enter when it was someone who joined the session (format 3), else "" (the
  // session's own user).
  std::string typed_by{};
};
// Reads the command lines of a session from its events, given one at a time as they happen:
// extract_commands over a recording, and command alert rules over a live session. It keeps a
// terminal of the session's size, so each event costs what drawing its output costs.
//
// Drawing is slow next to moving bytes (libvterm: some tens of MiB/s). A live session bounds it
// with `draw_budget`: past that many bytes of output after a command, output is not drawn
// until a key is typed; then the screen is redrawn from the last kRedrawTail bytes (and the
// full-screen program they may be in), which is what a shell's prompt stands on after a long
// output. 0 draws everything, exactly: recordings.
class CommandFollower {
 public:
  using Found = std::function<void(Command)>;
  static constexpr std::size_t kRedrawTail = std::size_t{16} << 10;

  // `cols` and `rows` as the session started (0 without a pty: a default-sized screen).
  CommandFollower(int cols, int rows, Found found, std::size_t draw_budget = 0);
  ~CommandFollower();
  CommandFollower(const CommandFollower&) = delete;
  CommandFollower& operator=(const CommandFollower&) = delete;

  // Events in the order they happened; calls `found` when one completes a command line.
  void on_event(const recorder::Event& event);

 private:
  void on_input(const recorder::Event& event);
  void on_echo(const recorder::Event& event);
  void on_output(const recorder::Event& event);
  void skip(std::string_view output);
  void redraw();
  int first_row(int last) const;
  void note_command();

  std::unique_ptr<Terminal> terminal_;
  Found found_;
  const std::size_t draw_budget_;
  std::size_t drawn_ = 0;                   // bytes of output drawn since the last command
  std::string skipped_tail_;                // the end of the output not drawn, when some was not
  std::optional<bool> skipped_alt_screen_;  // the last switch of screen in it: true = entered
  bool started_ = false;
  int start_row_ = 0, start_col_ = 0;  // where the line started
  std::uint64_t start_scrolled_ = 0;
  std::string prompt_;                    // the text left of the line's start
  std::optional<std::uint64_t> pending_;  // when Enter was pressed, until the echo arrives
  std::string pending_author_;            // who pressed it ("" the session's user)
};

// Calls `found` with each command as it is found, streaming.
void extract_commands(const Recording& recording, const std::function<void(Command)>& found,
                      const Progress& progress = {});
std::vector<Command> extract_commands(const Recording& recording, const Progress& progress = {});
// One line per command: "M:SS  command", the command inert (inert_line).
void export_commands(const Recording& recording, std::ostream& out, const Progress& progress = {});
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

class EventCursor;  // reads a recording's events one at a time (player/terminal.h)

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
// applies the due events, read as they come due, to a terminal. The caller writes what it renders
// and waits at most until_next() before calling advance() again. Recording, seeker and clock must
// outlive it.
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
  // "playing  1:02 / 10:00  2x  [NOT VERIFIED: why]  [NOTICE]  session 42 alice@db01
  // [grant_warning 5m]  [keys]": the last marker shows for 10 s of recording time; the
  // verification warning and the notice (if any) come early so that a narrow terminal still
  // shows them. Recorded names are inert.
  std::string status_line(const std::string& notice = "");

 private:
  std::uint64_t playback_now();
  void restart_at(std::uint64_t playback_us);
  // When the next event is due on the playback clock; nullopt when there is none.
  std::optional<std::uint64_t> next_playback();
  std::string recent_marker();

  const Recording& recording_;
  const Seeker& seeker_;
  ReplayClock& clock_;
  std::optional<std::uint64_t> idle_limit_us_;
  std::unique_ptr<Terminal> terminal_;
  std::unique_ptr<EventCursor> cursor_;  // at the next event
  std::optional<recorder::Event> last_marker_;
  // The playback clock reads `base_playback_` at recording time `base_at_` (the last event
  // applied, or where a seek landed); the next event is due its gap later, shortened to the
  // idle limit. Only differences on the playback clock matter: a seek starts it afresh.
  std::uint64_t base_at_ = 0;
  std::uint64_t base_playback_ = 0;
  double speed_ = 1.0;
  bool paused_ = false;
  // Playback position `anchor_playback_` was reached at `anchor_time_`.
  std::uint64_t anchor_playback_ = 0;
  std::chrono::steady_clock::time_point anchor_time_;
};

}  // namespace portcullis::player
