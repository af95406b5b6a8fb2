// The player: screens at any time (libvterm, keyframes), exports, commands typed at the prompt,
// search, and replay timing with an injected clock.
#include "player/player.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "player/terminal.h"
#include "tests/support/recording_builder.h"
#include "tests/support/temp_dir.h"

namespace portcullis::player {
namespace {

using recorder::Event;
using recorder::EventKind;

// Started on the second, so RFC 3339 times in the tests read simply.
recorder::Header header(std::int64_t session_id = 42) {
  recorder::Header h = test::sample_header(session_id);
  h.started_at = recorder::Clock::time_point(std::chrono::seconds(1764064800));
  return h;
}

std::string decode_base64(const std::string& text) {
  std::string bytes(text.size(), '\0');
  std::size_t length = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(bytes.data()), bytes.size(), text.data(),
                        text.size(), nullptr, &length, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0) {
    throw std::runtime_error("bad base64 in test data");
  }
  bytes.resize(length);
  return bytes;
}

// A session captured from bash under a pty by tests/data/player/capture.py: lines of
// "o|i <µs> <base64>".
std::vector<Event> captured(const std::string& name) {
  std::ifstream in(std::string(PORTCULLIS_SOURCE_DIR) + "/tests/data/player/" + name + ".events");
  std::vector<Event> events;
  std::string kind, data;
  std::uint64_t at_us = 0;
  while (in >> kind >> at_us >> data) {
    events.push_back(
        {kind == "i" ? EventKind::input : EventKind::output, at_us, decode_base64(data)});
  }
  if (events.empty()) throw std::runtime_error("no test data " + name);
  return events;
}

Recording recording_of(const std::vector<Event>& events, std::int64_t session_id = 42) {
  test::TempDir dir;
  return open_recording(test::build_recording(dir.path(), header(session_id), events),
                        {test::recording_key().public_key()});
}

// Every event of a recording, read back from it.
std::vector<Event> events_of(const Recording& r) {
  std::vector<Event> events;
  visit_events(r, [&](const Event& e) { events.push_back(e); });
  return events;
}

// The time of the first input event holding `keys`.
std::uint64_t input_time(const Recording& r, std::string_view keys) {
  for (const Event& e : events_of(r)) {
    if (e.kind == EventKind::input && e.data.find(keys) != std::string::npos) return e.at_us;
  }
  throw std::runtime_error("no input " + std::string(keys));
}

TEST(PlayerTime, ParsesEveryForm) {
  const auto start = header().started_at;
  EXPECT_EQ(parse_time("90", start), 90'000'000u);
  EXPECT_EQ(parse_time("2.5", start), 2'500'000u);
  EXPECT_EQ(parse_time("1:30", start), 90'000'000u);
  EXPECT_EQ(parse_time("1:02:03", start), 3'723'000'000u);
  EXPECT_EQ(parse_time("1h2m3s", start), 3'723'000'000u);
  EXPECT_EQ(parse_time("5m", start), 300'000'000u);
  EXPECT_EQ(parse_time("2025-11-25T10:01:30Z", start), 90'000'000u);
  EXPECT_EQ(parse_time("2025-11-25T12:01:30.5+02:00", start), 90'500'000u);
  EXPECT_THROW(parse_time("2025-11-25T09:00:00Z", start), std::invalid_argument);
  EXPECT_THROW(parse_time("soon", start), std::invalid_argument);
  EXPECT_THROW(parse_time("1:", start), std::invalid_argument);
  EXPECT_EQ(format_offset(90'000'000), "1:30");
  EXPECT_EQ(format_offset(3'723'000'000), "1:02:03");
}

TEST(PlayerScreen, ShowsVimThenTheShellAgain) {
  const Recording r = recording_of(captured("vim"));
  const Seeker seeker(r, {1'000'000, 4096});
  EXPECT_GT(seeker.keyframes(), 2u);

  const Screen before = seeker.screen_at(input_time(r, "vim -u") - 1);
  EXPECT_FALSE(before.alt_screen);
  EXPECT_EQ(before.lines[1], "before");

  const Screen in_vim = seeker.screen_at(input_time(r, ":q!") - 1);
  EXPECT_TRUE(in_vim.alt_screen);
  EXPECT_EQ(in_vim.lines[0], "written in vim");
  EXPECT_EQ(in_vim.lines[1], "~");
  EXPECT_EQ(in_vim.text().find("before"), std::string::npos);

  const Screen after = seeker.screen_at(r.duration_us);
  EXPECT_FALSE(after.alt_screen);
  EXPECT_EQ(after.lines[0], "$ echo before");
  EXPECT_EQ(after.lines[2], "$ vim -u NONE -i NONE -N notes.txt");
  EXPECT_EQ(after.lines[3], "$ echo after");
  EXPECT_EQ(after.text().find("written in vim"), std::string::npos);
}

TEST(PlayerScreen, KeyframesGiveTheSameScreenAsAFullReplay) {
  const Recording r = recording_of(captured("vim"));
  const Seeker dense(r, {1, 1});
  const Seeker none(r, {UINT64_MAX, SIZE_MAX});
  for (const Event& e : events_of(r)) {
    const Screen expected = screen_at(r, e.at_us);  // one pass, no keyframes
    EXPECT_EQ(dense.screen_at(e.at_us).lines, expected.lines) << e.at_us;
    EXPECT_EQ(none.screen_at(e.at_us).lines, expected.lines) << e.at_us;
    EXPECT_EQ(dense.screen_at(e.at_us).alt_screen, expected.alt_screen) << e.at_us;
  }
}

// Colours and a scroll region set before a keyframe still apply to what comes after it.
TEST(PlayerScreen, KeyframesKeepThePenAndTheScrollRegion) {
  std::vector<Event> events = {{EventKind::output, 1, "title\x1b[3;10r\x1b[10;1H\x1b[1;33m"}};
  for (std::uint64_t i = 0; i < 30; ++i) {
    events.push_back({EventKind::output, 10 + i, "line " + std::to_string(i) + "\r\n"});
    if (i == 15) events.push_back({EventKind::output, 30 + i, "\x1b[0;44m"});
  }
  const Recording r = recording_of(events);
  const Seeker dense(r, {1, 1});
  const Seeker none(r, {UINT64_MAX, SIZE_MAX});
  for (const Event& e : events_of(r)) {
    EXPECT_EQ(dense.seek(e.at_us).terminal->paint(), none.seek(e.at_us).terminal->paint())
        << e.at_us;
  }
  EXPECT_EQ(dense.screen_at(100).lines[0], "title");
}

// Autowrap turned off and insert mode turned on before a keyframe still apply after it.
TEST(PlayerScreen, KeyframesKeepAutowrapAndInsertMode) {
  const Recording r = recording_of({{EventKind::output, 1, "\x1b[?7l"},
                                    {EventKind::output, 2, std::string(100, 'x') + "\r\n"},
                                    {EventKind::output, 3, "tail\r\x1b[4h"},
                                    {EventKind::output, 4, ">> "},
                                    {EventKind::output, 5, "\x1b[4l\x1b[?7h\r\n"},
                                    {EventKind::output, 6, std::string(100, 'y')}});
  const Screen last = screen_at(r, 6);
  EXPECT_EQ(last.lines[0], std::string(80, 'x'));  // not wrapped
  EXPECT_EQ(last.lines[1], ">> tail");
  EXPECT_EQ(last.lines[3], std::string(20, 'y'));  // wrapping again
  // A replay that seeks to any keyframe, then plays on from there, ends on the same screen.
  const Seeker dense(r, {1, 1});
  for (const Event& e : events_of(r)) {
    SeekResult sought = dense.seek(e.at_us);
    for (; sought.cursor->peek() != nullptr; sought.cursor->pop()) {
      apply(*sought.terminal, *sought.cursor->peek());
    }
    EXPECT_EQ(sought.terminal->screen().lines, last.lines) << e.at_us;
  }
}

TEST(PlayerScreen, WideCharactersAndResize) {
  const Recording r = recording_of({
      {EventKind::output, 10, "日本語 ok\r\ncafé\r\n"},
      {EventKind::resize, 20, "", 100, 30},
      {EventKind::output, 30, "\x1b[30;95Hend"},
  });
  const Seeker seeker(r);
  const Screen first = seeker.screen_at(10);
  EXPECT_EQ(first.lines[0], "日本語 ok");
  EXPECT_EQ(first.lines[1], "café");
  const Screen last = seeker.screen_at(30);
  EXPECT_EQ(last.cols, 100);
  EXPECT_EQ(last.rows, 30);
  EXPECT_EQ(last.lines[29], std::string(94, ' ') + "end");
}

std::string run(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen " + command);
  char buffer[4096];
  for (std::size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  EXPECT_EQ(pclose(pipe), 0) << command;
  return out;
}

TEST(PlayerExport, AsciicastPlaysBackToTheSameText) {
  const Recording r = recording_of(captured("vim"));
  const std::string cast = export_asciicast(r);
  const auto header = nlohmann::json::parse(cast.substr(0, cast.find('\n')));
  EXPECT_EQ(header["version"], 2);
  EXPECT_EQ(header["width"], 80);
  EXPECT_EQ(header["height"], 24);
  EXPECT_EQ(header["timestamp"], 1764064800);
  EXPECT_EQ(header["title"],
            "session 42: alice on db01 as postgres, grant 7: INC-1234 disk full on db01");
  EXPECT_NE(cast.find(R"(,"i","vim -u NONE -i NONE -N notes.txt\r"])"), std::string::npos);

  test::TempDir dir;
  std::ofstream(dir.path() / "session.cast") << cast;
  ASSERT_EQ(std::system("command -v asciinema >/dev/null"), 0)
      << "asciinema is not installed: run scripts/bootstrap";
  // asciinema cat insists on a terminal (/dev/tty): give it one with script(1). It sets the
  // terminal raw, so the bytes come through untranslated.
  const std::string played = run("script -qec 'asciinema cat " +
                                 (dir.path() / "session.cast").string() + "' /dev/null </dev/null");
  const std::string text = export_text(r);
  EXPECT_EQ(export_text(recording_of({{EventKind::output, 1, played}})), text);
  EXPECT_EQ(text,
            "$ echo before\nbefore\n$ vim -u NONE -i NONE -N notes.txt\n$ echo after\n"
            "after\n$ exit\nexit\n");
}

TEST(PlayerExport, AsciicastEventsOfEveryKind) {
  const Recording r = recording_of({{EventKind::output, 500'000, "caf\xc3"},
                                    {EventKind::output, 600'000, "\xa9\r\n"},
                                    {EventKind::resize, 700'000, "", 100, 30},
                                    {EventKind::marker, 800'000, "grant_warning 5m"},
                                    {EventKind::error_output, 900'000, "oops\n"},
                                    {EventKind::marker, 1'000'000, "exit_status 0"}});
  const std::string cast = export_asciicast(r);
  const std::string events = cast.substr(cast.find('\n') + 1);
  EXPECT_EQ(events,
            "[0.5,\"o\",\"caf\"]\n"
            // ASCII only: every non-ASCII character escaped, so a C1 control is too.
            "[0.6,\"o\",\"\\u00e9\\r\\n\"]\n"
            "[0.7,\"r\",\"100x30\"]\n"
            "[0.8,\"m\",\"grant_warning 5m\"]\n"
            "[0.9,\"o\",\"oops\\n\"]\n"
            "[1.0,\"m\",\"exit_status 0\"]\n");
}

TEST(PlayerCommands, LineEditingHistoryAndTabCompletion) {
  const Recording r = recording_of(captured("edit"));
  const std::vector<Command> commands = extract_commands(r);
  std::vector<std::string> lines;
  for (const Command& c : commands) lines.push_back(c.line);
  EXPECT_EQ(lines, (std::vector<std::string>{"echo hello world", "echo hello world again",
                                             "cat /etc/hostname", "echo tabbed", "exit"}));
  ASSERT_EQ(commands.size(), 5u);
  EXPECT_EQ(commands[0].at_us, input_time(r, "\r"));
  EXPECT_EQ(export_commands(r).substr(0, 22), "0:01  echo hello world");
}

TEST(PlayerCommands, CtrlCAbandonsTheLineAndCtrlLRedrawsIt) {
  std::vector<std::string> lines;
  for (const Command& c : extract_commands(recording_of(captured("abort")))) {
    lines.push_back(c.line);
  }
  EXPECT_EQ(lines, (std::vector<std::string>{"echo two", "echo three", "exit"}));
}

TEST(PlayerCommands, ExecRequestsAreCommandsToo) {
  const Recording r = recording_of({{EventKind::exec, 100, "systemctl restart nginx"},
                                    {EventKind::output, 200, "restarted\r\n"},
                                    {EventKind::marker, 300, "exit_status 0"}});
  const std::vector<Command> commands = extract_commands(r);
  ASSERT_EQ(commands.size(), 1u);
  EXPECT_EQ(commands[0].line, "systemctl restart nginx");
  const auto nginx =
      search(r, [](std::string_view line) { return line.find("nginx") != std::string_view::npos; });
  ASSERT_EQ(nginx.size(), 1u);
  EXPECT_EQ(nginx[0].at_us, 100u);
}

TEST(PlayerCommands, SkipsKeysTypedIntoFullScreenPrograms) {
  const Recording r = recording_of(captured("vim"));
  std::vector<std::string> lines;
  for (const Command& c : extract_commands(r)) lines.push_back(c.line);
  EXPECT_EQ(lines, (std::vector<std::string>{"echo before", "vim -u NONE -i NONE -N notes.txt",
                                             "echo after", "exit"}));
}

// A live session's bytes come in pieces of any size: a follower given every output and input
// byte as its own event finds what extract_commands finds, each as soon as the shell echoes
// the newline that ends it.
TEST(PlayerCommands, FollowerReadsTheSameCommandsOneByteAtATime) {
  const std::vector<Event> events = captured("edit");
  const std::vector<Command> whole = extract_commands(recording_of(events));
  std::vector<Command> followed;
  std::size_t events_given = 0;
  std::vector<std::size_t> found_after;
  CommandFollower follower(80, 24, [&](Command c) {
    followed.push_back(std::move(c));
    found_after.push_back(events_given);
  });
  for (const Event& event : events) {
    for (char byte : event.data) {
      ++events_given;
      follower.on_event({event.kind, event.at_us, std::string(1, byte)});
    }
  }
  ASSERT_EQ(followed.size(), whole.size());
  for (std::size_t i = 0; i < whole.size(); ++i) {
    EXPECT_EQ(followed[i].line, whole[i].line);
    EXPECT_EQ(followed[i].at_us, whole[i].at_us);
  }
  EXPECT_LT(found_after.front(), events_given);  // not at the end: as it happened
}

// Past its draw budget a follower stops drawing the output and redraws the screen from the
// output's end at the next key: the command after a long output is still read whole.
TEST(PlayerCommands, FollowerWithADrawBudgetReadsTheCommandAfterALongOutput) {
  std::vector<std::string> lines;
  CommandFollower follower(
      80, 24, [&](Command c) { lines.push_back(std::move(c.line)); }, 4096);
  follower.on_event({EventKind::output, 0, "$ "});
  follower.on_event({EventKind::input, 1, "cat log\r"});
  follower.on_event({EventKind::output, 2, "cat log\r\n"});
  for (int i = 0; i < 2000; ++i) {
    follower.on_event({EventKind::output, 3, "log line " + std::to_string(i) + "\r\n"});
  }
  follower.on_event({EventKind::output, 4, "$ "});
  for (char key : std::string("echo donX\x7f" "e\r")) {
    follower.on_event({EventKind::input, 5, std::string(1, key)});
  }
  follower.on_event({EventKind::output, 6, "echo donX\b \be\r\n"});
  EXPECT_EQ(lines, (std::vector<std::string>{"cat log", "echo done"}));
}

// The screen a skipped output ended on is known: keys typed into a full-screen program that
// started long ago are still not commands.
TEST(PlayerCommands, FollowerWithADrawBudgetKnowsAFullScreenProgramItDidNotDraw) {
  std::vector<std::string> lines;
  CommandFollower follower(
      80, 24, [&](Command c) { lines.push_back(std::move(c.line)); }, 4096);
  follower.on_event({EventKind::output, 0, std::string(5000, 'x') + "\r\n\x1b[?104"});
  follower.on_event({EventKind::output, 1, "9h" + std::string(40000, 'y')});
  follower.on_event({EventKind::input, 2, ":wq\r"});
  follower.on_event({EventKind::output, 3, "\r\n"});
  EXPECT_TRUE(lines.empty());
}

TEST(PlayerSearch, FindsAWordInOneOfFiftyRecordings) {
  std::vector<Recording> recordings;
  for (int i = 1; i <= 50; ++i) {
    std::vector<Event> events = {{EventKind::output, 0, "$ "},
                                 {EventKind::input, 1'000'000, "ls\r"},
                                 {EventKind::output, 1'000'100, "ls\r\nfile1 file2\r\n$ "}};
    if (i == 37) {
      events.push_back({EventKind::output, 65'000'000, "cat notes\r\nthe needle is here\r\n$ "});
    }
    // The word typed but never shown (a password) is not found.
    events.push_back({EventKind::input, 70'000'000, "needle"});
    for (int line = 0; line < 40; ++line) {
      events.push_back({EventKind::output, 80'000'000 + static_cast<std::uint64_t>(line),
                        "filler line " + std::to_string(line) + "\r\n"});
    }
    recordings.push_back(recording_of(events, i));
  }
  std::vector<std::pair<std::int64_t, Match>> found;
  for (const Recording& r : recordings) {
    for (Match& m : search(r, [](std::string_view line) {
           return line.find("needle") != std::string_view::npos;
         })) {
      found.emplace_back(r.header.session_id, std::move(m));
    }
  }
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].first, 37);
  EXPECT_EQ(found[0].second.at_us, 65'000'000u);
  EXPECT_EQ(found[0].second.line, "the needle is here");
}

}  // namespace
}  // namespace portcullis::player

namespace portcullis::player {
namespace {

class FakeClock : public ReplayClock {
 public:
  std::chrono::steady_clock::time_point now() override { return now_; }
  void advance(std::chrono::microseconds by) { now_ += by; }
  std::uint64_t elapsed_us() const {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(now_ - start_).count());
  }

 private:
  std::chrono::steady_clock::time_point start_{std::chrono::hours(1)};
  std::chrono::steady_clock::time_point now_ = start_;
};

// Plays to the end, sleeping on the fake clock as the CLI sleeps on the real one; returns the
// elapsed time at which each event came out.
std::vector<std::uint64_t> play_through(Replay& replay, FakeClock& clock) {
  std::vector<std::uint64_t> times;
  while (!replay.finished()) {
    clock.advance(replay.until_next());
    for (std::size_t n = replay.advance(); n > 0; --n) times.push_back(clock.elapsed_us());
  }
  return times;
}

std::vector<Event> timed_output() {
  return {{EventKind::output, 500'000, "a"},
          {EventKind::output, 1'000'000, "b"},
          {EventKind::output, 11'000'000, "c"},  // after 10 s idle
          {EventKind::output, 11'500'000, "d"}};
}

TEST(PlayerReplay, HonoursSpeedAndIdleLimit) {
  const Recording r = recording_of(timed_output());
  const Seeker seeker(r);
  FakeClock clock;
  Replay original(r, seeker, {}, clock);
  EXPECT_EQ(play_through(original, clock),
            (std::vector<std::uint64_t>{500'000, 1'000'000, 11'000'000, 11'500'000}));
  EXPECT_EQ(original.screen().lines[0], "abcd");

  FakeClock fast_clock;
  Replay fast(r, seeker, {2.0, 2'000'000, 0}, fast_clock);
  // Gaps 0.5, 0.5, 10 -> 2, 0.5 s of playback, then halved by the speed.
  EXPECT_EQ(play_through(fast, fast_clock),
            (std::vector<std::uint64_t>{250'000, 500'000, 1'500'000, 1'750'000}));
}

TEST(PlayerReplay, StatusLineShowsPositionSpeedAndRecentMarkers) {
  std::vector<Event> events = timed_output();
  events.push_back({EventKind::marker, 12'000'000, "grant_warning 5m"});
  events.push_back({EventKind::output, 30'000'000, "e"});
  const Recording r = recording_of(events);
  const Seeker seeker(r);
  FakeClock clock;
  Replay replay(r, seeker, {2.0, std::nullopt, 11'900'000}, clock);
  EXPECT_EQ(replay.status_line().substr(0, 27), "playing  0:11 / 0:30  2x  s");
  EXPECT_EQ(replay.status_line().find("grant_warning"), std::string::npos);
  clock.advance(std::chrono::milliseconds(100));
  replay.advance();
  EXPECT_NE(replay.status_line().find("alice@db01  [grant_warning 5m]"), std::string::npos);
  replay.seek_to(25'000'000);
  replay.toggle_pause();
  EXPECT_EQ(replay.status_line().substr(0, 20), "paused   0:25 / 0:30");
  EXPECT_EQ(replay.status_line().find("grant_warning"), std::string::npos);
}

TEST(PlayerReplay, PausesSeeksAndChangesSpeed) {
  const Recording r = recording_of(timed_output());
  const Seeker seeker(r);
  FakeClock clock;
  Replay replay(r, seeker, {}, clock);
  clock.advance(std::chrono::milliseconds(600));
  EXPECT_EQ(replay.advance(), 1u);
  replay.toggle_pause();
  EXPECT_EQ(replay.until_next(), std::chrono::microseconds::max());
  clock.advance(std::chrono::seconds(30));
  EXPECT_EQ(replay.advance(), 0u);
  EXPECT_EQ(replay.position_us(), 600'000u);
  replay.toggle_pause();
  replay.faster();
  replay.faster();
  EXPECT_EQ(replay.speed(), 4.0);
  EXPECT_EQ(replay.until_next(), std::chrono::microseconds(100'000));  // 0.4 s at 4x

  replay.seek_by(10'000'000);  // to 10.6 s: a and b shown, c next
  EXPECT_EQ(replay.screen().lines[0], "ab");
  EXPECT_EQ(replay.position_us(), 10'600'000u);
  replay.seek_to(20'000'000);  // past the end: the last screen
  EXPECT_TRUE(replay.finished());
  EXPECT_EQ(replay.screen().lines[0], "abcd");
  replay.seek_by(-11'000'000);
  EXPECT_EQ(replay.screen().lines[0], "a");
  for (int i = 0; i < 20; ++i) replay.faster();
  EXPECT_EQ(replay.speed(), Replay::kMaxSpeed);
}

TEST(PlayerReplay, SaysWhenTheViewersTerminalIsSmaller) {
  EXPECT_EQ(size_notice(80, 24, 80, 24), "");
  EXPECT_EQ(size_notice(200, 60, 120, 40), "");
  EXPECT_EQ(size_notice(80, 24, 120, 40), "terminal 80x24 smaller than recorded 120x40");
  EXPECT_EQ(size_notice(120, 30, 120, 40), "terminal 120x30 smaller than recorded 120x40");
  EXPECT_EQ(size_notice(100, 50, 120, 40), "terminal 100x50 smaller than recorded 120x40");

  // The replay follows recorded resizes, so the size to compare with changes with them.
  std::vector<Event> events = timed_output();
  events.push_back({EventKind::resize, 12'000'000, "", 132, 50});
  const Recording r = recording_of(events);
  const Seeker seeker(r);
  FakeClock clock;
  Replay replay(r, seeker, {}, clock);
  EXPECT_EQ(replay.cols(), 80);
  EXPECT_EQ(replay.rows(), 24);
  replay.seek_to(12'000'000);
  EXPECT_EQ(replay.cols(), 132);
  EXPECT_EQ(replay.rows(), 50);
  const std::string notice = size_notice(80, 24, replay.cols(), replay.rows());
  // Early in the line, so that a narrow terminal still shows it.
  EXPECT_EQ(replay.status_line(notice).substr(0, 26 + notice.size() + 2),
            "end      0:12 / 0:12  1x  [" + notice + "]");
}

TEST(PlayerProgress, EveryPassReportsEachEvent) {
  const Recording r = recording_of(captured("edit"));
  const std::size_t total = r.event_count;
  const auto counted = [total](const std::function<void(const Progress&)>& pass) {
    std::size_t calls = 0, last = 0;
    pass([&](std::size_t done, std::size_t of) {
      EXPECT_EQ(of, total);
      EXPECT_EQ(done, last + 1);
      last = done;
      ++calls;
    });
    return calls;
  };
  EXPECT_EQ(counted([&](const Progress& p) { export_asciicast(r, p); }), total);
  EXPECT_EQ(counted([&](const Progress& p) { export_text(r, p); }), total);
  EXPECT_EQ(counted([&](const Progress& p) { export_commands(r, p); }), total);
  EXPECT_EQ(counted([&](const Progress& p) {
              search(
                  r, [](std::string_view) { return false; }, p);
            }),
            total);
}

}  // namespace
}  // namespace portcullis::player
