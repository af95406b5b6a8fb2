// Terminal semantics for auditors: the commands typed at the prompt as the screen showed them,
// and text search over rendered output rather than raw bytes.
#include <map>
#include <ostream>
#include <sstream>

#include "common/common.h"
#include "player/terminal.h"

namespace portcullis::player {
namespace {

using recorder::Event;
using recorder::EventKind;

bool has_enter(std::string_view keys) { return keys.find_first_of("\r\n") != std::string::npos; }

// Ctrl-C abandons the line; the shell prints a new prompt.
bool has_abort(std::string_view keys) { return keys.find('\x03') != std::string::npos; }

// Follows one session through the terminal and notes each command line at Enter.
class CommandTracker {
 public:
  CommandTracker(const recorder::Header& header, const std::function<void(Command)>& found)
      : terminal_(new_terminal(header)), found_(found) {}

  void on_event(const Event& event) {
    // `ssh target 'command'` has no prompt: the command line is the exec request.
    if (event.kind == EventKind::exec) return found_({event.at_us, event.data});
    if (event.kind == EventKind::input) return on_input(event);
    if (pending_ && (event.kind == EventKind::output || event.kind == EventKind::error_output)) {
      return on_echo(event);
    }
    apply(*terminal_, event);
  }

 private:
  void on_input(const Event& event) {
    // Keys typed into a full-screen program (vim, less) are not shell commands.
    if (terminal_->alt_screen()) return;
    if (!started_) {
      // The line starts where the cursor stood when the first key came: after the prompt.
      start_ = terminal_->cursor();
      start_scrolled_ = terminal_->scrolled();
      prompt_ = terminal_->row_text(start_.row, 0, start_.col);
      started_ = true;
    }
    if (has_enter(event.data)) pending_ = event.at_us;
    if (has_abort(event.data)) started_ = false;
  }

  // The shell echoes the final line, then the newline: read the line just before the newline,
  // so typed-ahead keys and output already on their way are all on the screen.
  void on_echo(const Event& event) {
    const std::size_t newline = event.data.find('\n');
    if (newline == std::string::npos) return apply(*terminal_, event);
    terminal_->write(std::string_view(event.data).substr(0, newline));
    note_command();
    terminal_->write(std::string_view(event.data).substr(newline));
  }

  // The row the line starts on: where it started, moved up by scrolling; else (the screen was
  // cleared and the prompt redrawn, Ctrl-L) the nearest row above that shows the prompt.
  int first_row(int last) const {
    const int moved = start_.row - static_cast<int>(terminal_->scrolled() - start_scrolled_);
    const auto shows_prompt = [&](int row) {
      return terminal_->row_text(row, 0, start_.col) == prompt_;
    };
    if (moved >= 0 && moved <= last && shows_prompt(moved)) return moved;
    for (int row = last; row >= 0 && !prompt_.empty(); --row) {
      if (shows_prompt(row)) return row;
    }
    return std::max(moved, 0);
  }

  void note_command() {
    const int last = terminal_->cursor().row;
    const int first = first_row(last);
    std::string line;
    for (int row = first; row <= last; ++row) {
      std::string text = terminal_->row_text(row, row == first ? start_.col : 0);
      // A wrapped line fills its row; only the last row has trailing blanks trimmed away.
      if (row < last) text.resize(static_cast<std::size_t>(terminal_->cols()), ' ');
      line += text;
    }
    line.erase(line.find_last_not_of(' ') + 1);
    if (!line.empty()) found_({*pending_, std::move(line)});
    pending_.reset();
    started_ = false;
  }

  std::unique_ptr<Terminal> terminal_;
  const std::function<void(Command)>& found_;
  bool started_ = false;
  VTermPos start_{0, 0};
  std::uint64_t start_scrolled_ = 0;
  std::string prompt_;                    // the text left of the line's start
  std::optional<std::uint64_t> pending_;  // when Enter was pressed, until the echo arrives
};

}  // namespace

void extract_commands(const Recording& recording, const std::function<void(Command)>& found,
                      const Progress& progress) {
  CommandTracker tracker(recording.header, found);
  for_each_event(recording, progress, [&](const Event& event) { tracker.on_event(event); });
}

std::vector<Command> extract_commands(const Recording& recording, const Progress& progress) {
  std::vector<Command> commands;
  extract_commands(
      recording, [&](Command c) { commands.push_back(std::move(c)); }, progress);
  return commands;
}

void export_commands(const Recording& recording, std::ostream& out, const Progress& progress) {
  // A recorded command line may hold escapes (an OSC 52 that sets the clipboard): inert.
  extract_commands(
      recording,
      [&](const Command& c) {
        out << format_offset(c.at_us) << "  " << inert_line(c.line) << '\n';
      },
      progress);
}

std::string export_commands(const Recording& recording, const Progress& progress) {
  std::ostringstream out;
  export_commands(recording, out, progress);
  return out.str();
}

std::vector<Match> search(const Recording& recording, const LineMatcher& matches,
                          const Progress& progress) {
  const std::unique_ptr<Terminal> terminal = new_terminal(recording.header);
  // Matching lines now on the screen, counted by text: a line that scrolls up keeps its count,
  // a new copy of it raises the count and is a new match.
  std::vector<std::string> rows(static_cast<std::size_t>(terminal->rows()));
  std::vector<Match> found;
  for_each_event(recording, progress, [&](const Event& event) {
    if (event.kind == EventKind::exec && matches(event.data)) {
      found.push_back({event.at_us, event.data});
    }
    apply(*terminal, event);
    const std::vector<bool> dirty = terminal->take_dirty();
    if (std::find(dirty.begin(), dirty.end(), true) == dirty.end()) return;
    std::map<std::string, int> before;
    for (const std::string& row : rows) {
      if (!row.empty()) ++before[row];
    }
    rows.resize(static_cast<std::size_t>(terminal->rows()));
    for (std::size_t row = 0; row < rows.size(); ++row) {
      if (!dirty[row]) continue;
      std::string text = terminal->row_text(static_cast<int>(row));
      rows[row] = matches(text) ? std::move(text) : std::string();
    }
    std::map<std::string, int> after;
    for (const std::string& row : rows) {
      if (!row.empty() && ++after[row] > before[row]) found.push_back({event.at_us, row});
    }
  });
  return found;
}

}  // namespace portcullis::player
