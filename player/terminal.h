// Internal: a libvterm 0.1 terminal that the player feeds recorded output into, with the
// snapshots that make keyframes.
#pragma once

#include <vterm.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "player/player.h"

namespace portcullis::player {

// The cells of one screen buffer and where its cursor was.
struct Grid {
  int cols = 0, rows = 0;
  std::vector<VTermScreenCell> cells;  // row-major
  VTermPos cursor{0, 0};

  std::size_t index(int row, int col) const {
    return static_cast<std::size_t>(row) * static_cast<std::size_t>(cols) +
           static_cast<std::size_t>(col);
  }
};

// Settings libvterm keeps but does not report, so the output is watched for the sequences that
// make them; each holds the last such sequence seen, "" for none.
struct WatchedSettings {
  std::string scroll_region;  // DECSTBM
  std::string autowrap;       // DECAWM set or reset: whether a full line wraps
  std::string insert;         // IRM set or reset: whether text pushes the rest of the line right
};

// Enough of a terminal's state to rebuild it: the visible grid, while a full-screen program
// runs the shell's primary screen behind it, the pen, the scroll region and the modes that
// change where text lands. Tab stops and origin mode are not kept (libvterm hides them, and
// they depend on the cursor when set): programs that change them set them again as they redraw.
struct Snapshot {
  Grid visible;
  std::optional<Grid> primary;  // only while the alternate screen is active
  bool cursor_visible = true;
  VTermScreenCell pen{};  // attributes and colours of the next character written
  WatchedSettings settings;
};

class Terminal {
 public:
  Terminal(int cols, int rows);
  // A terminal showing what `snapshot` shows.
  explicit Terminal(const Snapshot& snapshot);
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  void write(std::string_view bytes);
  void resize(int cols, int rows);

  int cols() const { return cols_; }
  int rows() const { return rows_; }
  bool alt_screen() const { return alt_screen_; }
  VTermPos cursor() const;
  // The text of cells [from, to) of a row (to the end when `to` is -1), trailing blanks trimmed.
  std::string row_text(int row, int from = 0, int to = -1) const;
  bool continues(int row) const;  // the row is the wrapped continuation of the one above
  std::uint64_t scrolled() const { return scrolled_; }  // lines pushed off the top so far

  Screen screen() const;
  Snapshot snapshot() const;
  // Escape sequences that draw this screen on a real terminal from its top-left corner.
  std::string paint() const;

  // Called with each line that scrolls off the top of the primary screen.
  std::function<void(std::string line)> on_scroll;
  // Rows changed since the last take_dirty().
  std::vector<bool> take_dirty();

 private:
  struct VTermDeleter {
    void operator()(VTerm* vt) const { vterm_free(vt); }
  };
  static const VTermScreenCallbacks kCallbacks;
  static int on_damage(VTermRect rect, void* user);
  static int on_settermprop(VTermProp prop, VTermValue* value, void* user);
  static int on_pushline(int cols, const VTermScreenCell* cells, void* user);

  void write_raw(std::string_view bytes);
  Grid grid() const;
  VTermScreenCell pen() const;
  void restore_grid(const Grid& grid);

  std::unique_ptr<VTerm, VTermDeleter> vt_;
  VTermScreen* screen_ = nullptr;
  int cols_ = 0, rows_ = 0;
  bool alt_screen_ = false;
  bool cursor_visible_ = true;
  std::uint64_t scrolled_ = 0;
  std::optional<Grid> primary_;  // the shell's screen, captured as a program enters alt screen
  WatchedSettings settings_;
  std::vector<bool> dirty_;
};

// Feeds one recorded event to a terminal: output is written, a resize resizes (clamped), the
// rest is not part of the screen.
void apply(Terminal& terminal, const recorder::Event& event);

// Where a pass through a recording's events stands: enough to resume there later.
struct EventPosition {
  std::size_t chunk_offset = 0;   // of the record (chunk or segment) that holds the next event
  std::uint32_t chunk_index = 0;  // of its chunk in that record (a segment holds many)
  std::string history;            // the decoder's history before that chunk (format 2)
  std::size_t index = 0;          // of the next event within its chunk
  std::uint64_t ordinal = 0;      // events before it in the recording
};

// Reads a recording's events one at a time, decoding one chunk at a time. A chunk that does not
// decode ends the events and is noted in Recording::damage.
class EventCursor {
 public:
  explicit EventCursor(const Recording& recording);  // at the first event
  EventCursor(const Recording& recording, const EventPosition& position);
  EventCursor(const EventCursor&) = delete;
  EventCursor& operator=(const EventCursor&) = delete;

  const recorder::Event* peek();  // the next event, nullptr after the last
  void pop();
  std::uint64_t ordinal() const { return ordinal_; }  // events popped so far
  EventPosition position() const;                     // of the next event

 private:
  bool load_next_chunk();

  const Recording& recording_;
  recorder::RecordStream stream_;
  recorder::ChunkDecoder decoder_;
  std::size_t chunk_offset_ = 0;   // of the record `events_` came from
  std::uint32_t chunk_index_ = 0;  // and of its chunk in that record
  std::string history_before_;     // the decoder's history before that chunk
  std::vector<recorder::Event> events_;
  std::size_t index_ = 0;
  std::uint64_t ordinal_ = 0;
  bool done_ = false;
};

// Calls `visit` with each event of the recording in order, and `progress` (when set) after each.
template <typename Visit>
void for_each_event(const Recording& recording, const Progress& progress, Visit visit) {
  const auto total = static_cast<std::size_t>(recording.event_count);
  EventCursor cursor(recording);
  for (const recorder::Event* event; (event = cursor.peek()) != nullptr; cursor.pop()) {
    visit(*event);
    if (progress) progress(static_cast<std::size_t>(cursor.ordinal()) + 1, total);
  }
}

// What Seeker::seek returns: a terminal showing the screen at the time sought, a cursor at the
// first event after it, and the last marker before it (the replay's status line shows it).
struct SeekResult {
  std::unique_ptr<Terminal> terminal;
  std::unique_ptr<EventCursor> cursor;
  std::optional<recorder::Event> last_marker;
};

// A terminal of the recording's initial size.
std::unique_ptr<Terminal> new_terminal(const recorder::Header& header);

// UTF-8 text of one cell ("" for the right half of a wide character, " " when empty). libvterm
// stores C1 code points (U+0080-U+009F) in cells: `painted` replaces every control code point
// with U+FFFD, one visible column, for text written to a real terminal.
std::string cell_text(const VTermScreenCell& cell, bool painted = false);

}  // namespace portcullis::player
