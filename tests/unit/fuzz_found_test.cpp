// Inputs the fuzz targets of tests/fuzz found crashing, one test each, so each bug stays fixed.
// Each input is also kept under tests/fuzz/: in corpus/TARGET once fixed (ctest replays it),
// in crashes/TARGET until then.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "player/player.h"
#include "recorder/recorder.h"
#include "tests/unit/recording_builder.h"

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

}  // namespace
}  // namespace portcullis
