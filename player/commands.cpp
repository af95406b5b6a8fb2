// Terminal semantics for auditors: the commands typed at the prompt as the screen showed them
// (read by CommandFollower), and text search over rendered output rather than raw bytes.
#include <map>
#include <ostream>
#include <sstream>

#include "common/common.h"
#include "player/terminal.h"

namespace portcullis::player {
namespace {

using recorder::Event;
using recorder::EventKind;

}  // namespace

void extract_commands(const Recording& recording, const std::function<void(Command)>& found,
                      const Progress& progress) {
  CommandFollower follower(recording.header.cols, recording.header.rows, found);
  for_each_event(recording, progress, [&](const Event& event) { follower.on_event(event); });
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
        out << format_offset(c.at_us) << "  "
            << (c.typed_by.empty() ? "" : "[" + inert_line(c.typed_by) + "] ") << inert_line(c.line)
            << '\n';
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
