// Time zones by hand, for the allowed-hours check: GCC 12's libstdc++ has no std::chrono time
// zone database, and localtime()/tzset() read the process-wide TZ, which a multi-threaded daemon
// must not change. Reads RFC 8536 TZif files and the POSIX TZ strings their footers hold.
// Internal to the `access` library (hours.cpp and the tests).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::access::tz {

using std::chrono::sys_seconds;

// What the clocks of a zone show during some period.
struct LocalTimeType {
  std::chrono::seconds offset{0};  // local time minus UTC
  bool is_dst = false;
  std::string abbreviation;  // "CET", "+0530"
  bool operator==(const LocalTimeType&) const = default;
};

// A POSIX TZ string such as "CET-1CEST,M3.5.0,M10.5.0/3" or "<+0530>-5:30", with the RFC 8536
// extensions (hours -167..167 in rule times). A daylight-saving name needs its rules: the
// implementation-defined default of POSIX is refused.
class PosixZone {
 public:
  // Throws std::invalid_argument saying what is wrong.
  static PosixZone parse(std::string_view text);
  LocalTimeType at(sys_seconds t) const;

 private:
  // The day a daylight-saving change happens in a year (Jn, n or Mm.w.d) and its local time.
  struct Rule {
    enum class Kind { julian_no_leap, zero_based, month_week_day } kind = Kind::month_week_day;
    int day = 0;              // Jn: 1..365, n: 0..365, Mm.w.d: the weekday d, 0 = Sunday
    int month = 0, week = 0;  // Mm.w.d only; week 5 = the last in the month
    std::chrono::seconds time{2 * 3600};  // wall clock time of the change, as read before it
  };
  class Parser;

  static sys_seconds change_at(const Rule& rule, std::chrono::year year,
                               std::chrono::seconds offset);

  LocalTimeType standard_;
  std::optional<LocalTimeType> daylight_;
  Rule start_, end_;  // when daylight saving starts and ends; used if daylight_
};

class TimeZone {
 public:
  // The zone in `data`, the bytes of a TZif file (version 1 to 4). Throws std::invalid_argument
  // saying what is wrong.
  static TimeZone parse_tzif(std::string_view data);
  static TimeZone utc();
  LocalTimeType at(sys_seconds t) const;

 private:
  std::vector<std::int64_t> transitions_;       // unix seconds, increasing
  std::vector<std::uint8_t> transition_types_;  // index into types_, per transition
  std::vector<LocalTimeType> types_;            // never empty
  std::optional<PosixZone> footer_;             // after the last transition
};

// $TZDIR when set and not empty, else /usr/share/zoneinfo.
std::filesystem::path zoneinfo_dir();

// The zone called `name` ("Europe/Paris"), read from zoneinfo_dir() the first time it is asked
// for and kept for the life of the process (thread-safe). "UTC" is built in. Throws
// std::invalid_argument naming the zone when the name is malformed, no such file exists or the
// file is not valid TZif.
std::shared_ptr<const TimeZone> locate_zone(std::string_view name);

}  // namespace portcullis::access::tz
