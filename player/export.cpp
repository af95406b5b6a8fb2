// Exports: asciicast v2 for asciinema and its web player, and the text that was on the screen.
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>

#include "common/common.h"
#include "player/terminal.h"

namespace portcullis::player {
namespace {

using recorder::Event;
using recorder::EventKind;

// How many leading bytes of `data` end on a whole UTF-8 character: output events are cut
// wherever the SSH channel cut them, and JSON strings must not split a character.
std::size_t whole_utf8(std::string_view data) {
  const std::size_t size = data.size();
  for (std::size_t back = 1; back <= 4 && back <= size; ++back) {
    const auto byte = static_cast<unsigned char>(data[size - back]);
    if ((byte & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    const std::size_t needed = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1;
    return needed > back ? size - back : size;
  }
  return size;
}

double seconds(std::uint64_t at_us) { return static_cast<double>(at_us) / 1e6; }

std::string json_line(const nlohmann::json& value) {
  // Bytes that are not UTF-8 (a binary dumped to the terminal) become U+FFFD, as asciinema does;
  // ASCII only, so that a C1 control (U+009B) is escaped too and the file is inert when shown.
  return value.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace) + "\n";
}

// An asciicast "r" event or header size: clamped like the player's, since the players of
// asciicast files (a browser) trust them too.
std::string size_text(int cols, int rows) {
  return std::to_string(clamp_cols(cols)) + "x" + std::to_string(clamp_rows(rows));
}

std::string title(const recorder::Header& h) {
  return "session " + std::to_string(h.session_id) + ": " + h.user + " on " + h.target + " as " +
         h.login + ", grant " + std::to_string(h.grant_id) + ": " + h.reason;
}

nlohmann::json asciicast_event(const Event& event, std::string data) {
  switch (event.kind) {
    case EventKind::output:
    case EventKind::error_output:
      return {seconds(event.at_us), "o", std::move(data)};
    case EventKind::input:
    case EventKind::joined_input:  // decoded as input with its author; asciicast has no author
      return {seconds(event.at_us), "i", std::move(data)};
    case EventKind::resize:
      return {seconds(event.at_us), "r", size_text(event.cols, event.rows)};
    case EventKind::exec:
      return {seconds(event.at_us), "m", "exec " + data};
    case EventKind::marker:
      break;
  }
  return {seconds(event.at_us), "m", std::move(data)};
}

}  // namespace

void export_asciicast(const Recording& recording, std::ostream& out, const Progress& progress) {
  const recorder::Header& h = recording.header;
  nlohmann::json header = {
      {"version", 2},
      {"width", clamp_cols(h.cols)},
      {"height", clamp_rows(h.rows)},
      {"timestamp",
       std::chrono::duration_cast<std::chrono::seconds>(h.started_at.time_since_epoch()).count()},
      {"duration", seconds(recording.duration_us)},
      {"title", title(h)}};
  if (!h.term.empty()) header["env"] = {{"TERM", h.term}};
  out << json_line(header);
  std::string pending;  // the start of a character cut off at the end of the last output
  for_each_event(recording, progress, [&](const Event& event) {
    if (event.kind != EventKind::output && event.kind != EventKind::error_output) {
      out << json_line(asciicast_event(event, event.data));
      return;
    }
    pending += event.data;
    const std::size_t whole = whole_utf8(pending);
    if (whole == 0) return;
    out << json_line(asciicast_event(event, pending.substr(0, whole)));
    pending.erase(0, whole);
  });
}

void export_text(const Recording& recording, std::ostream& out, const Progress& progress) {
  const std::unique_ptr<Terminal> terminal = new_terminal(recording.header);
  // Lines go out as they scroll off: nothing accumulates. Inert: cells may hold C1 controls.
  terminal->on_scroll = [&out](const std::string& line) { out << inert_text(line) << '\n'; };
  for_each_event(recording, progress, [&](const Event& event) { apply(*terminal, event); });
  out << inert_text(terminal->screen().text());
}

std::string export_asciicast(const Recording& recording, const Progress& progress) {
  std::ostringstream out;
  export_asciicast(recording, out, progress);
  return out.str();
}

std::string export_text(const Recording& recording, const Progress& progress) {
  std::ostringstream out;
  export_text(recording, out, progress);
  return out.str();
}

}  // namespace portcullis::player
