// Following a recording while it is written: the screen of a running session as its chunks
// arrive (from PostgreSQL, where they are shipped live), the frame a watcher's terminal shows
// (the screen and a status line), and the keys a watcher or joiner types. Nothing here touches
// the database or a terminal: the CLI (`portcullis session watch`) and the daemon (`ssh
// auditor@bastion watch`) both drive it. Recorded bytes are hostile: the screen is rendered
// through libvterm, so no escape sequence of the watched session reaches the watcher's terminal.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "player/player.h"
#include "recorder/reader.h"

namespace portcullis::player {

class Terminal;

class LiveScreen {
 public:
  // `head`: a recording's bytes up to the end of its header record (recorder::load_head).
  // Throws recorder::RecordingError when they are not the start of a recording.
  explicit LiveScreen(std::string head);
  ~LiveScreen();
  LiveScreen(const LiveScreen&) = delete;
  LiveScreen& operator=(const LiveScreen&) = delete;

  // Chunk records as stored, in order, the first being chunk next_seq(): decoded and applied.
  // Returns false, and applies nothing more from then on, when they do not continue the
  // recording (a gap, a broken hash chain, a chunk that does not decode); problem() says why.
  bool add(std::string_view chunk_records);

  std::uint64_t next_seq() const { return next_seq_; }
  const recorder::Header& header() const { return header_; }
  std::uint64_t last_event_us() const { return last_event_us_; }
  const std::string& problem() const { return problem_; }
  int cols() const;
  int rows() const;
  // Escape sequences that draw the session's screen from the top-left corner of a terminal.
  std::string paint() const;
  // The same screen as text.
  Screen screen() const;

 private:
  void apply_chunk(const recorder::Chunk& chunk);

  const std::string head_;
  recorder::Header header_;
  std::uint32_t version_ = 0;
  recorder::Hash last_hash_{};
  std::unique_ptr<recorder::ChunkDecoder> decoder_;
  std::unique_ptr<Terminal> terminal_;
  std::uint64_t next_seq_ = 0;
  std::uint64_t last_event_us_ = 0;
  std::string problem_;
};

// What a watcher's status line says about the session watched.
struct LiveStatus {
  std::int64_t session_id = 0;
  std::string user, target, login;
  std::int64_t grant_id = 0;
  std::string reason;
  std::optional<std::chrono::seconds> time_left;  // unset once the session ended
  std::string state;                              // "LIVE", "ended (client_exit)"...
  std::string keys;                               // "q leave  ^]k end session"
  std::string notice;                             // the last thing that happened, or ""
};
// One line, recorded names and the reason inert: "LIVE  session 42  alice@db01 (postgres)
// grant 17  12m left  reason: ...  [notice]  q leave ...".
std::string live_status_line(const LiveStatus& status);

// What a full-screen view (`play`, `watch`) writes to the viewer's terminal first and last: an
// alternate screen without cursor or autowrap (lines wider than the terminal are cut instead of
// wrapping and scrolling the view away), and back as it was.
inline constexpr std::string_view kEnterView = "\x1b[?1049h\x1b[?25l\x1b[?7l";
inline constexpr std::string_view kLeaveView = "\x1b[0m\x1b[?7h\x1b[?25h\x1b[?1049l";

// The first `cols` characters of a UTF-8 line (a status line that wrapped would scroll the
// screen above it away).
std::string fit_line(std::string line, int cols);

// A whole frame for a viewer's terminal of `viewer_cols` x `viewer_rows` (0x0: unknown): the
// screen `painted` (from paint(), `screen_rows` high), then `status` in reverse video below it,
// or on the viewer's last row when the screen does not leave one. `clear`: erase first (after a
// resize, cells outside the new size would stay).
std::string compose_frame(const std::string& painted, int screen_rows, int viewer_cols,
                          int viewer_rows, const std::string& status, bool clear);

// The keys of someone watching (or, joined, typing into) a session. `q` leaves a watch; Ctrl-]
// starts a command in both modes: `k` asks for a reason and ends the session, `q` leaves, a
// second Ctrl-] types a literal Ctrl-]. Joined, every other key goes to the session.
class WatchKeys {
 public:
  struct Action {
    enum class Kind { quit, kill, type } kind;
    std::string text;  // kill: the reason; type: the keys
  };

  explicit WatchKeys(bool joined) : joined_(joined) {}

  std::vector<Action> feed(std::string_view keys);
  // While a reason is being typed: the prompt to show instead of the status line.
  std::optional<std::string> prompt() const;

 private:
  enum class Mode { normal, command, reason };
  void key(char c, std::vector<Action>& actions);
  void reason_key(char c, std::vector<Action>& actions);

  const bool joined_;
  Mode mode_ = Mode::normal;
  std::string reason_;
  std::string hint_;  // shown in the prompt after a refused Enter
};

}  // namespace portcullis::player
