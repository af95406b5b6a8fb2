// The auditor's player: `screen`, `export`, `commands`, `search` and `play`. SESSION is a
// session id (read from the database) or a .pcr file.
#include <fcntl.h>
#include <poll.h>
#include <re2/re2.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ext/stdio_filebuf.h>
#include <filesystem>
#include <iostream>
#include <map>

#include "access/access.h"
#include "cli/cli.h"
#include "cli/output.h"
#include "cli/progress.h"
#include "cli/recording_source.h"
#include "cli/terminal_ui.h"
#include "player/live.h"
#include "player/player.h"

namespace portcullis::cli {
namespace {

using player::Recording;

// Says on stderr, before anything else is shown, when a recording cannot be trusted: the
// auditor must not take an altered or unsigned recording for evidence.
void warn_if_unverified(const std::string& name, const Recording& recording) {
  if (!recording.integrity.verified) {
    std::cerr << "portcullis: warning: " << name
              << " is NOT VERIFIED: " << inert_line(recording.integrity.problem)
              << "; what follows may be incomplete or altered (run `portcullis verify` for "
                 "details)\n";
  }
}

// After a pass: a chunk that did not decode ended it early.
void warn_if_damaged(const std::string& name, const Recording& recording) {
  if (!recording.damage.empty()) {
    std::cerr << "portcullis: warning: " << name << " is damaged (" << inert_line(recording.damage)
              << "); showing what comes before; run `portcullis verify`\n";
  }
}

// Opens SESSION, checks it against the known node keys and says at once when it fails.
Recording open(Context& context, const std::string& session, const std::string& pubkey_file) {
  RecordingInput input = open_recording_input(context, session);
  const std::vector<recorder::PublicKey> keys = known_node_keys(context, pubkey_file);
  Recording recording = player::open_recording(std::move(input.stream), keys);
  warn_if_unverified(input.name, recording);
  return recording;
}

// The verdict as every --json output carries it.
void add_verification(nlohmann::json& object, const Recording& recording) {
  const bool verified = recording.integrity.verified && recording.damage.empty();
  object["verified"] = verified;
  object["verification"] = verified ? nlohmann::json()
                           : recording.integrity.verified
                               ? nlohmann::json(recording.damage)
                               : nlohmann::json(recording.integrity.problem);
}

std::string name_of(const std::string& session) {
  return session_id(session) >= 0 && !std::filesystem::exists(session) ? "session " + session
                                                                       : inert_line(session);
}

std::uint64_t time_option(const std::string& text, const Recording& recording) {
  try {
    return player::parse_time(text, recording.header.started_at);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
}

// Feeds a player pass's progress into a bar.
player::Progress shown_on(ProgressBar& bar) {
  return [&bar](std::size_t done, std::size_t) { bar.update(done); };
}

// ---- screen -----------------------------------------------------------------------------

struct ScreenOptions {
  std::string session, at, pubkey;
  bool json = false;
};

void show_screen(Context& context, const ScreenOptions& options) {
  const Recording recording = open(context, options.session, options.pubkey);
  const std::uint64_t at = time_option(options.at, recording);
  if (at > recording.duration_us) {
    throw UsageError("the recording ends at " + player::format_offset(recording.duration_us));
  }
  const player::Screen screen = player::screen_at(recording, at);
  warn_if_damaged(name_of(options.session), recording);
  if (!options.json) {
    // Cells may hold C1 controls and the header names someone else's text: inert.
    std::cout << inert_text(screen.text());
    return;
  }
  nlohmann::json object = {{"session_id", recording.header.session_id},
                           {"at", player::format_offset(at)},
                           {"at_us", at},
                           {"cols", screen.cols},
                           {"rows", screen.rows},
                           {"alt_screen", screen.alt_screen},
                           {"cursor",
                            {{"row", screen.cursor_row},
                             {"col", screen.cursor_col},
                             {"visible", screen.cursor_visible}}},
                           {"lines", screen.lines}};
  add_verification(object, recording);
  print_json(std::cout, object);
}

// ---- export and commands ------------------------------------------------------------------

struct ExportOptions {
  std::string session, format, output, pubkey;
};

// A new file of mode 0600 (exports hold what the session showed: private like the recording),
// written as a stream: an export may be far larger than memory.
class PrivateFileStream {
 public:
  explicit PrivateFileStream(const std::string& path)
      : fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) {
    if (fd_ < 0) {
      throw UsageError("cannot create " + path + ": " + std::strerror(errno) +
                       (errno == EEXIST ? " (choose a new file name)" : ""));
    }
    buffer_ = std::make_unique<__gnu_cxx::stdio_filebuf<char>>(fd_, std::ios::out);
    stream_ = std::make_unique<std::ostream>(buffer_.get());
  }
  std::ostream& stream() { return *stream_; }
  // Flushes and fsyncs; throws UsageError when the data did not reach the disk.
  void finish(const std::string& path) {
    if (!stream_->flush() || ::fsync(fd_) != 0) {
      throw UsageError("cannot write " + path + ": " + std::strerror(errno));
    }
  }

 private:
  int fd_;  // closed by the filebuf
  std::unique_ptr<__gnu_cxx::stdio_filebuf<char>> buffer_;
  std::unique_ptr<std::ostream> stream_;
};

void write_export(const Recording& recording, const std::string& format, std::ostream& out,
                  const player::Progress& progress) {
  if (format == "asciicast") return player::export_asciicast(recording, out, progress);
  if (format == "text") return player::export_text(recording, out, progress);
  player::export_commands(recording, out, progress);
}

void export_recording(Context& context, const ExportOptions& options) {
  const Recording recording = open(context, options.session, options.pubkey);
  ProgressBar bar = ProgressBar::on_stderr("export", recording.event_count);
  const player::Progress progress = shown_on(bar);
  if (options.output.empty()) {
    write_export(recording, options.format, std::cout, progress);
    bar.finish();
    warn_if_damaged(name_of(options.session), recording);
    return;
  }
  PrivateFileStream file(options.output);
  write_export(recording, options.format, file.stream(), progress);
  file.finish(options.output);
  bar.finish();
  warn_if_damaged(name_of(options.session), recording);
  std::cout << "wrote " << options.format << " of session " << recording.header.session_id << " to "
            << options.output << (recording.integrity.verified ? "" : " (NOT VERIFIED)") << '\n';
}

struct CommandsOptions {
  std::string session, pubkey;
  bool json = false;
};

void list_commands(Context& context, const CommandsOptions& options) {
  const Recording recording = open(context, options.session, options.pubkey);
  if (!options.json) {
    player::export_commands(recording, std::cout);
    warn_if_damaged(name_of(options.session), recording);
    return;
  }
  nlohmann::json array = nlohmann::json::array();
  player::extract_commands(recording, [&](const player::Command& c) {
    nlohmann::json command = {
        {"at", player::format_offset(c.at_us)},
        {"at_us", c.at_us},
        {"line", c.line},
        {"typed_by", c.typed_by.empty() ? recording.header.user : c.typed_by}};
    array.push_back(std::move(command));
  });
  warn_if_damaged(name_of(options.session), recording);
  for (nlohmann::json& command : array) add_verification(command, recording);
  print_json(std::cout, array);
}

// ---- search -------------------------------------------------------------------------------

struct SearchOptions {
  std::string text, user, target, since;
  bool regex = false, json = false;
};

// RE2, not std::regex: recorded lines are hostile, and std::regex recurses per character
// (a 50,000-character line overflows the stack); RE2 runs in linear time without recursion.
player::LineMatcher matcher(const SearchOptions& options) {
  if (!options.regex) {
    return [text = options.text](std::string_view line) {
      return line.find(text) != std::string_view::npos;
    };
  }
  RE2::Options re2_options;
  re2_options.set_log_errors(false);
  auto re = std::make_shared<const RE2>(options.text, re2_options);
  if (!re->ok()) throw UsageError("bad --regex '" + inert_line(options.text) + "': " + re->error());
  return [re](std::string_view line) {
    return RE2::PartialMatch(re2::StringPiece(line.data(), line.size()), *re);
  };
}

// A stored recording to search, and its event count (to weigh the progress bar).
struct Stored {
  std::int64_t session_id = 0;
  std::uint64_t events = 0;
};

std::vector<Stored> stored_recordings(Context& context, const SearchOptions& options) {
  access::SessionFilter filter;
  filter.user = options.user;
  filter.target = options.target;
  if (!options.since.empty()) filter.since = parse_since(options.since);
  std::vector<Stored> stored;
  context.transact([&](pqxx::work& tx) {
    std::map<std::int64_t, std::uint64_t> events;  // of every stored recording, by session
    for (const auto& row : tx.exec("SELECT session_id, event_count FROM recordings")) {
      events[row[0].as<std::int64_t>()] = row[1].as<std::uint64_t>();
    }
    for (const access::SessionRow& session : access::list_sessions(tx, filter)) {
      const auto found = events.find(session.id);
      if (found != events.end()) stored.push_back({session.id, found->second});
    }
  });
  return stored;
}

// One recording's matches into the table and the JSON array. A recording that cannot be read is
// named on stderr and skipped: one bad recording must not hide everyone else's matches.
void search_one(Context& context, const Stored& s, const player::LineMatcher& matches,
                const player::Progress& progress, Table& table, nlohmann::json& array) {
  const std::string name = "session " + std::to_string(s.session_id);
  try {
    const Recording recording = open(context, std::to_string(s.session_id), "");
    const recorder::Header& h = recording.header;
    for (const player::Match& m : player::search(recording, matches, progress)) {
      const std::string at = player::format_offset(m.at_us);
      // Table::add makes every cell inert; JSON keeps the exact text, escaped.
      table.add({std::to_string(s.session_id), h.user, h.target, at, m.line});
      nlohmann::json match = {{"session_id", s.session_id}, {"user", h.user},
                              {"target", h.target},         {"at", at},
                              {"at_us", m.at_us},           {"line", m.line}};
      add_verification(match, recording);
      array.push_back(std::move(match));
    }
    warn_if_damaged(name, recording);
  } catch (const std::exception& e) {
    std::cerr << "portcullis: warning: " << name << " could not be read (" << inert_line(e.what())
              << "); searched the others\n";
  }
}

void search_recordings(Context& context, const SearchOptions& options) {
  const player::LineMatcher matches = matcher(options);
  const std::vector<Stored> stored = stored_recordings(context, options);
  std::uint64_t total = 0;
  for (const Stored& s : stored) total += s.events;
  ProgressBar bar = ProgressBar::on_stderr("search", total);
  std::uint64_t searched = 0;  // events of the recordings already searched
  nlohmann::json array = nlohmann::json::array();
  Table table({"SESSION", "USER", "TARGET", "TIME", "LINE"});
  for (const Stored& s : stored) {
    // The stored count may lag behind a recording still being written: scale to it.
    const player::Progress progress = [&](std::size_t done, std::size_t events) {
      bar.update(searched + s.events * done / std::max<std::size_t>(events, 1));
    };
    search_one(context, s, matches, progress, table, array);
    searched += s.events;
  }
  bar.finish();
  if (options.json) return print_json(std::cout, array);
  table.print(std::cout);
}

// ---- play -------------------------------------------------------------------------------

struct PlayOptions {
  std::string session, from, pubkey;
  double speed = 1.0;
  double idle_limit = 0;  // seconds, 0 = none
};

class SteadyClock : public player::ReplayClock {
 public:
  std::chrono::steady_clock::time_point now() override { return std::chrono::steady_clock::now(); }
};

class Player {
 public:
  Player(const Recording& recording, const player::Seeker& seeker, player::ReplayOptions options)
      : recording_(recording), replay_(recording, seeker, options, clock_) {}

  void run() {
    RawTerminal raw("play needs a terminal; use `export --format asciicast` instead");
    viewer_ = viewer_size();
    bool quit = false;
    while (!quit && !interrupted) {
      draw_frame();
      // At most 30 frames a second: events due meanwhile are drawn together.
      const auto wait = std::clamp<std::chrono::microseconds>(
          replay_.until_next(), std::chrono::milliseconds(33), std::chrono::milliseconds(200));
      const std::string keys =
          read_keys(std::chrono::duration_cast<std::chrono::milliseconds>(wait));
      quit = handle(keys);
      replay_.advance();
    }
  }

 private:
  // Said whenever the viewer's terminal is smaller than the recorded one: at the start, after
  // the viewer resizes, and after a recorded resize.
  std::string notice() const {
    if (viewer_.cols == 0) return "";
    return player::size_notice(viewer_.cols, viewer_.rows, replay_.cols(), replay_.rows());
  }

  // Draws the replay and below it the status line, or `prompt` instead when given.
  void draw_frame(const std::string& prompt = "") {
    // A resize, recorded or of the viewer's terminal, leaves cells outside the new size:
    // clear them once.
    const bool viewer_changed = viewer_resized != 0;
    if (viewer_changed) {
      viewer_resized = 0;
      viewer_ = viewer_size();
    }
    const bool clear = viewer_changed || replay_.cols() != cols_ || replay_.rows() != rows_;
    cols_ = replay_.cols();
    rows_ = replay_.rows();
    const std::string status = prompt.empty() ? replay_.status_line(notice()) : prompt;
    std::cout << player::compose_frame(replay_.paint(), rows_, viewer_.cols, viewer_.rows, status,
                                       clear)
              << std::flush;
  }

  // Handles every key in what was read at once; returns true to quit.
  bool handle(std::string_view keys) {
    while (!keys.empty()) {
      // Arrow keys arrive as ESC [ A..D; anything else is one byte.
      const std::size_t length = keys.size() >= 3 && keys.substr(0, 2) == "\x1b[" ? 3 : 1;
      if (handle_key(keys.substr(0, length))) return true;
      keys.remove_prefix(length);
    }
    return false;
  }

  bool handle_key(std::string_view key) {
    constexpr std::int64_t kSecond = 1'000'000;
    if (key == "q" || key == "\x03") return true;
    if (key == " ") replay_.toggle_pause();
    if (key == "+") replay_.faster();
    if (key == "-") replay_.slower();
    if (key == "\x1b[C") replay_.seek_by(5 * kSecond);
    if (key == "\x1b[D") replay_.seek_by(-5 * kSecond);
    if (key == "\x1b[A") replay_.seek_by(60 * kSecond);
    if (key == "\x1b[B") replay_.seek_by(-60 * kSecond);
    if (key == "g") go_to();
    return false;
  }

  // Asks for a time on the status line; Enter seeks, Escape cancels.
  void go_to() {
    std::string typed;
    while (!interrupted) {
      draw_frame("go to (90, 1:30, 1h2m3s, RFC 3339): " + typed);
      for (const char key : read_keys(std::chrono::milliseconds(200))) {
        if (key == '\x1b') return;
        if (key == '\r') return seek_to(typed);
        if (key == '\x7f' && !typed.empty()) typed.pop_back();
        if (key >= ' ' && key < '\x7f') typed += key;
      }
    }
  }

  void seek_to(const std::string& typed) {
    try {
      replay_.seek_to(player::parse_time(typed, recording_.header.started_at));
    } catch (const std::invalid_argument&) {
      // A mistyped time leaves the replay where it was.
    }
  }

  const Recording& recording_;
  SteadyClock clock_;
  player::Replay replay_;
  int cols_ = 0, rows_ = 0;  // of the last frame
  TerminalSize viewer_;
};

void play(Context& context, const PlayOptions& options) {
  const Recording recording = open(context, options.session, options.pubkey);
  player::ReplayOptions replay{options.speed, std::nullopt,
                               options.from.empty() ? 0 : time_option(options.from, recording)};
  if (options.idle_limit > 0) {
    replay.idle_limit_us = static_cast<std::uint64_t>(options.idle_limit * 1e6);
  }
  const player::Seeker seeker(recording);
  Player(recording, seeker, replay).run();
  // The status line said it throughout; say it again where it stays once the screen is gone.
  warn_if_unverified(name_of(options.session), recording);
  warn_if_damaged(name_of(options.session), recording);
}

// Reading a .pcr file needs neither the database nor, therefore, a config file.
void allow_config_free(const std::string& session) {
  if (session_id(session) < 0) allow_missing_config();
}

}  // namespace

void add_player_commands(CLI::App& app, Action& chosen) {
  const char* session_help = "Session id, or a .pcr file";
  const char* pubkey_help =
      "Verify the signature with this public key line (from `portcullis node pubkey`) instead of "
      "the node keys in the database";

  auto screen = std::make_shared<ScreenOptions>();
  CLI::App* screen_cmd = app.add_subcommand("screen", "Print the terminal screen at a moment");
  screen_cmd->add_option("SESSION", screen->session, session_help)->required();
  screen_cmd->add_option("--at", screen->at, "90, 1:30, 1h2m3s or an RFC 3339 time")->required();
  screen_cmd->add_flag("--json", screen->json, "Print one JSON object");
  screen_cmd->add_option("--pubkey", screen->pubkey, pubkey_help);
  screen_cmd->callback([&chosen, screen] {
    allow_config_free(screen->session);
    chosen = [screen](Context& c) { show_screen(c, *screen); };
  });

  auto exp = std::make_shared<ExportOptions>();
  CLI::App* export_cmd = app.add_subcommand("export", "Export a recording for other tools");
  export_cmd->add_option("SESSION", exp->session, session_help)->required();
  export_cmd->add_option("--format", exp->format, "asciicast (v2), text or commands")
      ->required()
      ->check(CLI::IsMember({"asciicast", "text", "commands"}));
  export_cmd->add_option("-o,--output", exp->output, "File to create (default: standard output)");
  export_cmd->add_option("--pubkey", exp->pubkey, pubkey_help);
  export_cmd->callback([&chosen, exp] {
    allow_config_free(exp->session);
    chosen = [exp](Context& c) { export_recording(c, *exp); };
  });

  auto commands = std::make_shared<CommandsOptions>();
  CLI::App* commands_cmd =
      app.add_subcommand("commands", "List the commands typed at the prompt, with their times");
  commands_cmd->add_option("SESSION", commands->session, session_help)->required();
  commands_cmd->add_flag("--json", commands->json, "Print one JSON array");
  commands_cmd->add_option("--pubkey", commands->pubkey, pubkey_help);
  commands_cmd->callback([&chosen, commands] {
    allow_config_free(commands->session);
    chosen = [commands](Context& c) { list_commands(c, *commands); };
  });

  auto search = std::make_shared<SearchOptions>();
  CLI::App* search_cmd =
      app.add_subcommand("search", "Find text on the screens of every stored recording");
  search_cmd->add_option("TEXT", search->text, "Text to find in rendered output")->required();
  search_cmd->add_flag("--regex", search->regex, "TEXT is a regular expression (RE2 syntax)");
  search_cmd->add_option("--user", search->user, "Only this user's sessions");
  search_cmd->add_option("--target", search->target, "Only sessions on this target");
  search_cmd->add_option("--since", search->since,
                         "Only sessions since this RFC 3339 time, or this long ago (24h, 7d)");
  search_cmd->add_flag("--json", search->json, "Print one JSON array");
  search_cmd->callback(
      [&chosen, search] { chosen = [search](Context& c) { search_recordings(c, *search); }; });

  auto play_options = std::make_shared<PlayOptions>();
  CLI::App* play_cmd =
      app.add_subcommand("play", "Replay a session in this terminal (space, +/-, arrows, g, q)");
  play_cmd->add_option("SESSION", play_options->session, session_help)->required();
  play_cmd->add_option("--speed", play_options->speed, "Playback speed, 1/64 to 64")
      ->check(CLI::Range(1.0 / 64, 64.0));
  play_cmd->add_option("--idle-limit", play_options->idle_limit,
                       "Shorten pauses longer than SECONDS");
  // --at as `screen` takes it: the line a command alert gives reads "play SESSION --at T".
  play_cmd->add_option("--from,--at", play_options->from, "Start at TIME");
  play_cmd->add_option("--pubkey", play_options->pubkey, pubkey_help);
  play_cmd->callback([&chosen, play_options] {
    allow_config_free(play_options->session);
    chosen = [play_options](Context& c) { play(c, *play_options); };
  });
}

}  // namespace portcullis::cli
