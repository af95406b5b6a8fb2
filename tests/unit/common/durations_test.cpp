#include <gtest/gtest.h>

#include "common/common.h"

namespace portcullis {
namespace {

using std::chrono::seconds;

// The message parse_duration throws for `text`.
std::string rejection(std::string_view text) {
  try {
    parse_duration(text);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  ADD_FAILURE() << "\"" << text << "\" was accepted";
  return "";
}

TEST(ParseDuration, AcceptsUnitsLargestFirst) {
  EXPECT_EQ(parse_duration("30s"), seconds(30));
  EXPECT_EQ(parse_duration("15m"), seconds(15 * 60));
  EXPECT_EQ(parse_duration("8h"), seconds(8 * 3600));
  EXPECT_EQ(parse_duration("1h30m"), seconds(5400));
  EXPECT_EQ(parse_duration("2d"), seconds(2 * 86400));
  EXPECT_EQ(parse_duration("1d2h3m4s"), seconds(86400 + 2 * 3600 + 3 * 60 + 4));
  EXPECT_EQ(parse_duration("1h5s"), seconds(3605));
  EXPECT_EQ(parse_duration("90m"), seconds(5400));
  EXPECT_EQ(parse_duration("0h5m"), seconds(300));
  EXPECT_EQ(parse_duration("007s"), seconds(7));
  EXPECT_EQ(parse_duration("3660d"), seconds(3660LL * 86400));
}

TEST(ParseDuration, RejectsMalformedText) {
  for (const char* text : {"30", "1h30", "h", "5x", "30S", "1m1h", "1h1h", "1h 30m", " 30s", "30s ",
                           "+5m", "1.5h", "5 m", "1hh", "m5"}) {
    const std::string message = rejection(text);
    EXPECT_NE(message.find("is not a duration"), std::string::npos) << text << ": " << message;
    // Says what would have been right.
    EXPECT_NE(message.find("expected numbers with units d, h, m, s, largest first, e.g. 30s"),
              std::string::npos)
        << text << ": " << message;
  }
}

TEST(ParseDuration, ExplainsWhatIsWrong) {
  EXPECT_EQ(rejection(""),
            "\"\" is not a duration: it is empty (expected numbers with units d, h, m, s, largest "
            "first, e.g. 30s, 15m, 8h, 1h30m, 2d)");
  EXPECT_NE(rejection("5x").find(": unknown unit 'x' ("), std::string::npos);
  EXPECT_NE(rejection("30").find(": the last number has no unit ("), std::string::npos);
  EXPECT_NE(rejection("1m1h").find(": each unit may appear once, largest first ("),
            std::string::npos);
  EXPECT_NE(rejection("h").find(": expected a number at \"h\" ("), std::string::npos);
}

// Zero is refused: a zero-length grant or timeout is a mistake, not a setting.
TEST(ParseDuration, RejectsZeroAndNegative) {
  EXPECT_NE(rejection("0s").find("it must be longer than zero"), std::string::npos);
  EXPECT_NE(rejection("0h0m").find("it must be longer than zero"), std::string::npos);
  EXPECT_NE(rejection("-5m").find("it is negative"), std::string::npos);
}

TEST(ParseDuration, RejectsWhatWouldOverflow) {
  EXPECT_NE(rejection("3661d").find("it is longer than 3660d"), std::string::npos);
  EXPECT_NE(rejection("3660d1s").find("it is longer than 3660d"), std::string::npos);
  EXPECT_NE(rejection("99999999999999999999999s").find("it is longer than 3660d"),
            std::string::npos);
  EXPECT_NE(rejection("9223372036854775807m").find("it is longer than 3660d"), std::string::npos);
}

TEST(FormatDuration, LargestUnitsFirstWithoutZeroParts) {
  EXPECT_EQ(format_duration(seconds(5400)), "1h30m");
  EXPECT_EQ(format_duration(seconds(0)), "0s");
  EXPECT_EQ(format_duration(seconds(59)), "59s");
  EXPECT_EQ(format_duration(seconds(86401)), "1d1s");
  EXPECT_EQ(format_duration(seconds(2 * 86400)), "2d");
  EXPECT_EQ(format_duration(seconds(-90)), "-1m30s");
}

TEST(FormatDuration, IsTheInverseOfParse) {
  for (std::int64_t count :
       {1LL, 59LL, 60LL, 61LL, 3599LL, 3600LL, 5400LL, 86399LL, 86400LL, 90061LL, 3660LL * 86400}) {
    EXPECT_EQ(parse_duration(format_duration(seconds(count))), seconds(count)) << count;
  }
  for (const char* text : {"30s", "15m", "8h", "1h30m", "2d", "1d2h3m4s"}) {
    EXPECT_EQ(format_duration(parse_duration(text)), text);
  }
}

}  // namespace
}  // namespace portcullis
