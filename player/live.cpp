// A running session's screen, the watcher's frame and the watcher's keys (player/live.h).
#include "player/live.h"

#include "common/common.h"
#include "player/terminal.h"

namespace portcullis::player {
namespace {

constexpr char kCommandKey = '\x1d';  // Ctrl-], as telnet and `ssh -e` users expect
constexpr char kCtrlC = '\x03';
constexpr char kEscape = '\x1b';
constexpr std::size_t kMaxReasonBytes = 1000;

bool is_enter(char c) { return c == '\r' || c == '\n'; }
bool is_erase(char c) { return c == '\x7f' || c == '\b'; }

}  // namespace

LiveScreen::LiveScreen(std::string head) : head_(std::move(head)) {
  const recorder::RecordStream stream = recorder::RecordStream::over(head_);
  header_ = stream.header();
  version_ = stream.version();
  last_hash_ = stream.header_hash();
  decoder_ = std::make_unique<recorder::ChunkDecoder>(version_);
  terminal_ = new_terminal(header_);
}

LiveScreen::~LiveScreen() = default;

int LiveScreen::cols() const { return terminal_->cols(); }
int LiveScreen::rows() const { return terminal_->rows(); }
std::string LiveScreen::paint() const { return terminal_->paint(); }
Screen LiveScreen::screen() const { return terminal_->screen(); }

bool LiveScreen::add(std::string_view chunk_records) {
  if (!problem_.empty()) return false;
  if (chunk_records.empty()) return true;
  // The records read as if they followed the header in a file: the reader checks every length
  // before it trusts it.
  recorder::RecordStream stream = recorder::RecordStream::own(head_ + std::string(chunk_records));
  recorder::Chunk chunk;
  try {
    while (stream.next_chunk(chunk)) apply_chunk(chunk);
  } catch (const recorder::RecordingError& e) {
    problem_ = std::string("chunk ") + std::to_string(next_seq_) + " does not decode: " + e.what();
    return false;
  }
  if (problem_.empty() && (!stream.damage().empty() || stream.truncated() || stream.trailer())) {
    problem_ = stream.damage().empty()
                   ? "a record after chunk " + std::to_string(next_seq_) + " is not a whole chunk"
                   : stream.damage();
  }
  return problem_.empty();
}

void LiveScreen::apply_chunk(const recorder::Chunk& chunk) {
  if (!problem_.empty()) return;
  if (chunk.seq != next_seq_ || chunk.prev_hash != last_hash_) {
    problem_ =
        "chunk " + std::to_string(chunk.seq) + " does not continue the recording after " +
        (next_seq_ == 0 ? std::string("its header") : "chunk " + std::to_string(next_seq_ - 1));
    return;
  }
  for (const recorder::Event& event : decoder_->next(chunk)) {
    apply(*terminal_, event);
    last_event_us_ = event.at_us;
  }
  last_hash_ = decoder_->hash();
  ++next_seq_;
}

std::string live_status_line(const LiveStatus& s) {
  std::string line = s.state + "  session " + std::to_string(s.session_id) + "  " +
                     inert_line(s.user) + "@" + inert_line(s.target) + " (" + inert_line(s.login) +
                     ")  grant " + std::to_string(s.grant_id);
  if (s.time_left) {
    line += "  " + format_duration(std::max(*s.time_left, std::chrono::seconds(0))) + " left";
  }
  if (!s.notice.empty()) line += "  [" + inert_line(s.notice) + "]";
  line += "  reason: " + inert_line(s.reason);
  if (!s.keys.empty()) line += "  " + s.keys;
  return line;
}

std::string fit_line(std::string line, int cols) {
  int shown = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const bool starts_character = (static_cast<unsigned char>(line[i]) & 0xC0) != 0x80;
    if (starts_character && ++shown > cols) {
      line.resize(i);
      break;
    }
  }
  return line;
}

std::string compose_frame(const std::string& painted, int screen_rows, int viewer_cols,
                          int viewer_rows, const std::string& status, bool clear) {
  const int status_row = viewer_rows > 0 ? std::min(screen_rows + 1, viewer_rows) : screen_rows + 1;
  return (clear ? "\x1b[0m\x1b[2J" : "") + painted + "\x1b[" + std::to_string(status_row) +
         ";1H\x1b[0;7m" + (viewer_cols > 0 ? fit_line(status, viewer_cols) : status) +
         "\x1b[0m\x1b[K";
}

std::vector<WatchKeys::Action> WatchKeys::feed(std::string_view keys) {
  std::vector<Action> actions;
  for (const char c : keys) key(c, actions);
  return actions;
}

std::optional<std::string> WatchKeys::prompt() const {
  if (mode_ != Mode::reason) return std::nullopt;
  return "end the session; reason (Enter ends it, Esc cancels)" + hint_ + ": " +
         inert_line(reason_);
}

void WatchKeys::key(char c, std::vector<Action>& actions) {
  const auto type = [&](char typed) {
    if (!actions.empty() && actions.back().kind == Action::Kind::type) {
      actions.back().text += typed;
    } else {
      actions.push_back({Action::Kind::type, std::string(1, typed)});
    }
  };
  switch (mode_) {
    case Mode::reason:
      return reason_key(c, actions);
    case Mode::command:
      mode_ = Mode::normal;
      if (c == 'k' || c == 'K') {
        mode_ = Mode::reason;
        reason_.clear();
        hint_.clear();
      } else if (c == 'q' || c == 'Q') {
        actions.push_back({Action::Kind::quit, ""});
      } else if (c == kCommandKey && joined_) {
        type(c);
      }
      return;
    case Mode::normal:
      if (c == kCommandKey) {
        mode_ = Mode::command;
      } else if (joined_) {
        type(c);
      } else if (c == 'q' || c == 'Q' || c == kCtrlC) {
        actions.push_back({Action::Kind::quit, ""});
      }
      return;
  }
}

void WatchKeys::reason_key(char c, std::vector<Action>& actions) {
  if (c == kEscape || c == kCtrlC) {
    mode_ = Mode::normal;
    return;
  }
  if (is_enter(c)) {
    if (reason_.find_first_not_of(' ') == std::string::npos) {
      hint_ = " (a reason is required)";
      return;
    }
    actions.push_back({Action::Kind::kill, reason_});
    mode_ = Mode::normal;
    return;
  }
  if (is_erase(c)) {
    // A whole UTF-8 character at a time.
    while (!reason_.empty() && (static_cast<unsigned char>(reason_.back()) & 0xC0) == 0x80) {
      reason_.pop_back();
    }
    if (!reason_.empty()) reason_.pop_back();
    return;
  }
  if (static_cast<unsigned char>(c) >= 0x20 && c != '\x7f' && reason_.size() < kMaxReasonBytes) {
    reason_ += c;
  }
}

}  // namespace portcullis::player
