// Inputs the fuzz targets of tests/fuzz found crashing, one test each, so each bug stays fixed.
// Each input is also kept under tests/fuzz/: in corpus/TARGET once fixed (ctest replays it),
// in crashes/TARGET until then.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "player/player.h"
#include "player/terminal.h"
#include "recorder/format.h"
#include "tests/support/recording_builder.h"
#include "tests/support/temp_dir.h"

namespace portcullis {
namespace {

// time_fuzz, tests/fuzz/corpus/time/rfc3339-year-0026: a timestamp outside what
// system_clock holds (before 1678 or after 2262) overflows converting µs to ns in
// parse_rfc3339 (signed overflow, player/recording.cpp). It must be refused instead.
TEST(FuzzFound, Rfc3339OutsideTheClockRangeIsRefused) {
  EXPECT_FALSE(player::parse_rfc3339("0026-11-25T10:01:30.25+02:00"));
  EXPECT_FALSE(player::parse_rfc3339("9999-12-31T23:59:59Z"));
  const recorder::Clock::time_point started_at{std::chrono::seconds(1764046860)};
  EXPECT_THROW(player::parse_time("0026-11-25T10:01:30Z", started_at), std::invalid_argument);
}

// recording_fuzz, tests/fuzz/corpus/recording/started-at-year-2279: a header whose
// started_at_us lies past 2262 overflows converting µs to ns in header_from_json (signed
// overflow, recorder/format.cpp). A start time the clock cannot hold is a damaged header.
TEST(FuzzFound, HeaderStartOutsideTheClockRangeIsDamage) {
  std::string json = recorder::header_json(test::sample_header());
  const std::string started = "1764046860123456";  // sample_header's started_at in µs
  ASSERT_NE(json.find(started), std::string::npos);
  json.replace(json.find(started), started.size(), "9764046860123456");
  EXPECT_THROW(recorder::header_from_json(json), recorder::RecordingError);
}

// player_render_fuzz, tests/fuzz/corpus/player_render/libvterm-read-after-resize (and its
// -minimized form, these events): a resize that shrinks the rows leaves libvterm 0.1.4's cursor
// above the screen (row -3 here), and the next write reads before a heap block of libvterm's own
// inside vterm_input_write; once in 3,780 fuzz runs it was a SEGV. libvterm is not built with
// ASan, so the read shows under valgrind (`valgrind build/bin/unit_tests
// --gtest_filter=FuzzFound.Resize*`); the cursor check below fails without the fix too.
TEST(FuzzFound, ResizeThenResetStaysInsideLibvterm) {
  using namespace std::string_literals;
  using recorder::EventKind;
  const std::string form_feeds(12, '\x0c');
  const std::vector<recorder::Event> events = {
      {EventKind::resize, 9'100'000, "", 63, 50},
      {EventKind::output, 10'300'000, form_feeds},
      {EventKind::output, 11'500'000, form_feeds},
      {EventKind::output, 12'700'000, std::string(10, '\x0c') + "m\x1b"},
      {EventKind::error_output, 17'700'000,
       ";13H\x1b[K\x1b[1;1H\x1b[?25h\x02\x05\x0ewritten in vim\x00\x00\x1a\x1b[?25lwritten"s},
      {EventKind::resize, 25'900'000, "", 84, 32},
      {EventKind::error_output, 28'600'000,
       "24;13Ht\r\n\x1b[?20004l\r\x00\x00P\x1b"
       "c\x00\x00\x01"
       "c\x02\x1b[29m\x1b[m\x1b[?200"s},
  };
  test::TempDir dir;
  const player::Recording recording =
      player::open_recording(test::build_recording(dir.path(), test::sample_header(), events));
  EXPECT_FALSE(player::export_text(recording).empty());

  // The cause, seen without valgrind: after each resize the cursor is on the screen.
  const recorder::Header header = test::sample_header();
  player::Terminal terminal(header.cols, header.rows);
  for (const recorder::Event& event : events) {
    player::apply(terminal, event);
    if (event.kind != EventKind::resize) continue;
    EXPECT_GE(terminal.cursor().row, 0) << "after the resize at " << event.at_us;
    EXPECT_LT(terminal.cursor().row, terminal.rows()) << "after the resize at " << event.at_us;
  }
}

// player_render_fuzz, tests/fuzz/corpus/player_render/scroll-region-after-resize: a scroll
// region (DECSTBM rows 3-20) that outlives a resize to 2x1 makes libvterm 0.1.4 memmove a
// negative size on the next output (ASan: negative-size-param in vterm_input_write, from
// Terminal::write in player/terminal.cpp). The player resets the scroll region on a resize, as
// xterm does, before libvterm sees the new size.
TEST(FuzzFound, ScrollRegionLargerThanTheTerminalAfterAResize) {
  using recorder::EventKind;
  recorder::Header header = test::sample_header();
  header.cols = 116;
  header.rows = 32;
  const std::vector<recorder::Event> events = {
      {EventKind::output, 100'000, "\x1b[3;20rt?"},
      {EventKind::resize, 200'000, "", 2, 1},
      {EventKind::output, 300'000, "$0"},
  };
  test::TempDir dir;
  const player::Recording recording =
      player::open_recording(test::build_recording(dir.path(), header, events));
  // Reaching here is the point; the last character written after the resize is on the screen.
  const std::string text = player::export_text(recording);
  EXPECT_NE(text.find('0'), std::string::npos) << text;
}

}  // namespace
}  // namespace portcullis
