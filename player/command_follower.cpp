// Reading command lines off the screen as a session goes: what the shell showed when Enter was
// pressed, after line editing, history recall and tab completion.
#include <algorithm>

#include "player/player.h"
#include "player/terminal.h"

namespace portcullis::player {
namespace {

using recorder::Event;
using recorder::EventKind;

bool has_enter(std::string_view keys) { return keys.find_first_of("\r\n") != std::string::npos; }

// Ctrl-C abandons the line; the shell prints a new prompt.
bool has_abort(std::string_view keys) { return keys.find('\x03') != std::string::npos; }

}  // namespace

CommandFollower::CommandFollower(int cols, int rows, Found found)
    // A session without a pty still prints lines: read them on a default-sized screen.
    : terminal_(std::make_unique<Terminal>(clamp_cols(cols), clamp_rows(rows))),
      found_(std::move(found)) {}

CommandFollower::~CommandFollower() = default;

void CommandFollower::on_event(const Event& event) {
  // `ssh target 'command'` has no prompt: the command line is the exec request.
  if (event.kind == EventKind::exec) return found_({event.at_us, event.data});
  if (event.kind == EventKind::input) return on_input(event);
  if (pending_ && (event.kind == EventKind::output || event.kind == EventKind::error_output)) {
    return on_echo(event);
  }
  apply(*terminal_, event);
}

void CommandFollower::on_input(const Event& event) {
  // Keys typed into a full-screen program (vim, less) are not shell commands.
  if (terminal_->alt_screen()) return;
  if (!started_) {
    // The line starts where the cursor stood when the first key came: after the prompt.
    const VTermPos cursor = terminal_->cursor();
    start_row_ = cursor.row;
    start_col_ = cursor.col;
    start_scrolled_ = terminal_->scrolled();
    prompt_ = terminal_->row_text(start_row_, 0, start_col_);
    started_ = true;
  }
  if (has_enter(event.data)) pending_ = event.at_us;
  if (has_abort(event.data)) started_ = false;
}

// The shell echoes the final line, then the newline: read the line just before the newline,
// so typed-ahead keys and output already on their way are all on the screen.
void CommandFollower::on_echo(const Event& event) {
  const std::size_t newline = event.data.find('\n');
  if (newline == std::string::npos) return apply(*terminal_, event);
  terminal_->write(std::string_view(event.data).substr(0, newline));
  note_command();
  terminal_->write(std::string_view(event.data).substr(newline));
}

// The row the line starts on: where it started, moved up by scrolling; else (the screen was
// cleared and the prompt redrawn, Ctrl-L) the nearest row above that shows the prompt.
int CommandFollower::first_row(int last) const {
  const int moved = start_row_ - static_cast<int>(terminal_->scrolled() - start_scrolled_);
  const auto shows_prompt = [&](int row) {
    return terminal_->row_text(row, 0, start_col_) == prompt_;
  };
  if (moved >= 0 && moved <= last && shows_prompt(moved)) return moved;
  for (int row = last; row >= 0 && !prompt_.empty(); --row) {
    if (shows_prompt(row)) return row;
  }
  return std::max(moved, 0);
}

void CommandFollower::note_command() {
  const int last = terminal_->cursor().row;
  const int first = first_row(last);
  std::string line;
  for (int row = first; row <= last; ++row) {
    std::string text = terminal_->row_text(row, row == first ? start_col_ : 0);
    // A wrapped line fills its row; only the last row has trailing blanks trimmed away.
    if (row < last) text.resize(static_cast<std::size_t>(terminal_->cols()), ' ');
    line += text;
  }
  line.erase(line.find_last_not_of(' ') + 1);
  const std::uint64_t at_us = *pending_;
  pending_.reset();
  started_ = false;
  if (!line.empty()) found_({at_us, std::move(line)});
}

}  // namespace portcullis::player
