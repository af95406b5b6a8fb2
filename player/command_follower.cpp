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

// The longest sequence that switches screens ("\x1b[?1049h"), less one: how far back a scan
// of new output starts, so that a sequence cut between two events is still found.
constexpr std::size_t kSwitchOverlap = 7;

// The last switch between the primary and the alternate screen (xterm 1049, 1047 and 47) in
// `output`: true entered, false left; nullopt for none.
std::optional<bool> last_screen_switch(std::string_view output) {
  std::optional<bool> last;
  for (std::size_t at = output.find("\x1b[?"); at != std::string_view::npos;
       at = output.find("\x1b[?", at + 1)) {
    std::string_view rest = output.substr(at + 3);
    for (std::string_view mode : {"1049", "1047", "47"}) {
      if (rest.size() > mode.size() && rest.substr(0, mode.size()) == mode) {
        const char action = rest[mode.size()];
        if (action == 'h' || action == 'l') last = action == 'h';
        break;
      }
    }
  }
  return last;
}

}  // namespace

CommandFollower::CommandFollower(int cols, int rows, Found found, std::size_t draw_budget)
    // A session without a pty still prints lines: read them on a default-sized screen.
    : terminal_(std::make_unique<Terminal>(clamp_cols(cols), clamp_rows(rows))),
      found_(std::move(found)),
      draw_budget_(draw_budget) {}

CommandFollower::~CommandFollower() = default;

void CommandFollower::on_event(const Event& event) {
  // `ssh target 'command'` has no prompt: the command line is the exec request.
  if (event.kind == EventKind::exec) return found_({event.at_us, event.data});
  if (event.kind == EventKind::input) return on_input(event);
  if (event.kind == EventKind::output || event.kind == EventKind::error_output) {
    return on_output(event);
  }
  apply(*terminal_, event);
}

void CommandFollower::on_output(const Event& event) {
  if (pending_) return on_echo(event);
  // Only output that no line being typed waits for is skipped: a line's start and its echo are
  // always drawn.
  if (draw_budget_ != 0 && !started_ &&
      (!skipped_tail_.empty() || drawn_ + event.data.size() > draw_budget_)) {
    return skip(event.data);
  }
  drawn_ += event.data.size();
  apply(*terminal_, event);
}

void CommandFollower::skip(std::string_view output) {
  const std::size_t scan_from =
      skipped_tail_.size() > kSwitchOverlap ? skipped_tail_.size() - kSwitchOverlap : 0;
  skipped_tail_.append(output);
  if (auto last = last_screen_switch(std::string_view(skipped_tail_).substr(scan_from))) {
    skipped_alt_screen_ = last;
  }
  // Trimmed in steps of kRedrawTail, so the bytes moved stay proportional to the output.
  if (skipped_tail_.size() > 2 * kRedrawTail) {
    skipped_tail_.erase(0, skipped_tail_.size() - kRedrawTail);
  }
}

// A fresh terminal of the same size that shows what the skipped output's end shows, from its
// first whole line (the cut may fall inside an escape sequence).
void CommandFollower::redraw() {
  auto fresh = std::make_unique<Terminal>(terminal_->cols(), terminal_->rows());
  const bool alt_screen = skipped_alt_screen_.value_or(terminal_->alt_screen());
  if (alt_screen) fresh->write("\x1b[?1049h");
  std::string_view tail(skipped_tail_);
  if (tail.size() > kRedrawTail) tail = tail.substr(tail.size() - kRedrawTail);
  const std::size_t newline = tail.find('\n');
  fresh->write(newline == std::string_view::npos ? tail : tail.substr(newline + 1));
  terminal_ = std::move(fresh);
  skipped_tail_.clear();
  skipped_alt_screen_.reset();
  drawn_ = 0;
}

void CommandFollower::on_input(const Event& event) {
  if (!skipped_tail_.empty()) redraw();
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
  if (has_enter(event.data)) {
    pending_ = event.at_us;
    pending_author_ = event.author;
  }
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
  drawn_ = 0;
  if (!line.empty()) found_({at_us, std::move(line), pending_author_});
}

}  // namespace portcullis::player
