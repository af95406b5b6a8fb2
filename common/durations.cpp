// Durations as people write them ("1h30m") and times as RFC 3339 UTC.
//
// Zero is not a duration: every duration Portcullis reads (a grant's length, a timeout) must be
// positive, and "0s" there is almost always a mistake. format_duration(0) still prints "0s" for
// display.
#include <ctime>

#include "common/common.h"

namespace portcullis {
namespace {

struct Unit {
  char suffix;
  std::int64_t seconds;
};

// Largest first: a duration lists its units in this order, each at most once.
constexpr Unit kUnits[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};

// Ten years: longer than anything should last, short enough that no arithmetic on
// time points overflows.
constexpr std::int64_t kMaxDays = 3660;
constexpr std::int64_t kMaxSeconds = kMaxDays * 86400;

std::invalid_argument bad_duration(std::string_view text, const std::string& why) {
  return std::invalid_argument(
      "\"" + std::string(text) + "\" is not a duration: " + why +
      " (expected numbers with units d, h, m, s, largest first, e.g. 30s, 15m, 8h, 1h30m, 2d)");
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

const Unit* find_unit(char suffix) {
  for (const Unit& unit : kUnits) {
    if (unit.suffix == suffix) return &unit;
  }
  return nullptr;
}

}  // namespace

std::chrono::seconds parse_duration(std::string_view text) {
  if (text.empty()) throw bad_duration(text, "it is empty");
  if (text.front() == '-') throw bad_duration(text, "it is negative");
  const std::string too_long = "it is longer than " + std::to_string(kMaxDays) + "d";
  std::int64_t total = 0;
  const Unit* previous = nullptr;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t number_start = i;
    std::int64_t number = 0;
    for (; i < text.size() && is_digit(text[i]); ++i) {
      number = number * 10 + (text[i] - '0');
      if (number > kMaxSeconds) throw bad_duration(text, too_long);
    }
    if (i == number_start) {
      throw bad_duration(text, "expected a number at \"" + std::string(text.substr(i)) + "\"");
    }
    if (i == text.size()) throw bad_duration(text, "the last number has no unit");
    const Unit* unit = find_unit(text[i]);
    if (unit == nullptr) {
      throw bad_duration(text, "unknown unit '" + std::string(1, text[i]) + "'");
    }
    if (previous != nullptr && unit->seconds >= previous->seconds) {
      throw bad_duration(text, "each unit may appear once, largest first");
    }
    total += number * unit->seconds;
    if (total > kMaxSeconds) throw bad_duration(text, too_long);
    previous = unit;
    ++i;
  }
  if (total == 0) throw bad_duration(text, "it must be longer than zero");
  return std::chrono::seconds(total);
}

std::string format_duration(std::chrono::seconds d) {
  if (d.count() == 0) return "0s";
  // Through unsigned so that even the most negative count has a magnitude.
  const bool negative = d.count() < 0;
  std::uint64_t left =
      negative ? 0 - static_cast<std::uint64_t>(d.count()) : static_cast<std::uint64_t>(d.count());
  std::string text = negative ? "-" : "";
  for (const Unit& unit : kUnits) {
    const auto size = static_cast<std::uint64_t>(unit.seconds);
    if (left >= size) {
      text += std::to_string(left / size) + unit.suffix;
      left %= size;
    }
  }
  return text;
}

std::string format_rfc3339(std::chrono::system_clock::time_point t) {
  const std::time_t seconds =
      std::chrono::system_clock::to_time_t(std::chrono::floor<std::chrono::seconds>(t));
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[64];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buffer;
}

}  // namespace portcullis
