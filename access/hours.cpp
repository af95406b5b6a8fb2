#include "access/hours.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "access/time_zone.h"

namespace portcullis::access {
namespace {

using namespace std::chrono;

constexpr std::array<std::string_view, 7> kDayNames = {"Mon", "Tue", "Wed", "Thu",
                                                       "Fri", "Sat", "Sun"};
constexpr int kMinutesPerDay = 24 * 60;

std::string quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    return lower(x) == lower(y);
  });
}

std::vector<std::string_view> split(std::string_view text, std::string_view separators) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find_first_of(separators, start), text.size());
    parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

std::vector<std::string_view> words(std::string_view text) {
  std::vector<std::string_view> parts = split(text, " \t\r\n");
  std::erase_if(parts, [](std::string_view part) { return part.empty(); });
  return parts;
}

// Monday = 0.
std::optional<int> day_index(std::string_view name) {
  for (std::size_t i = 0; i < kDayNames.size(); ++i) {
    if (equal_ignoring_case(name, kDayNames[i])) return static_cast<int>(i);
  }
  return std::nullopt;
}

// Marks the days of one comma-separated item: "daily", "Tue" or a range "Fri-Mon".
void add_days(std::string_view item, std::array<bool, 7>& days) {
  if (equal_ignoring_case(item, "daily")) {
    days.fill(true);
    return;
  }
  const std::size_t dash = item.find('-');
  const std::optional<int> first = day_index(item.substr(0, dash));
  const std::optional<int> last =
      dash == std::string_view::npos ? first : day_index(item.substr(dash + 1));
  if (!first || !last) {
    throw std::invalid_argument(quoted(item) +
                                " is not a day (expected Mon, Tue, Wed, Thu, Fri, Sat, Sun or "
                                "daily)");
  }
  for (int day = *first;; day = (day + 1) % 7) {  // a range may wrap past Sunday
    days[static_cast<std::size_t>(day)] = true;
    if (day == *last) break;
  }
}

std::array<bool, 7> parse_days(std::string_view text) {
  std::array<bool, 7> days{};
  for (std::string_view item : split(text, ",")) {
    if (item.empty()) {
      throw std::invalid_argument(quoted(text) +
                                  " has an empty entry (expected days and ranges separated by "
                                  "commas, e.g. Mon,Wed-Fri)");
    }
    add_days(item, days);
  }
  return days;
}

// "HH:MM" as minutes after midnight, 00:00..24:00; nullopt if it is not.
std::optional<int> parse_time(std::string_view text) {
  const auto digit = [&](std::size_t i) { return text[i] >= '0' && text[i] <= '9'; };
  if (text.size() != 5 || text[2] != ':' || !digit(0) || !digit(1) || !digit(3) || !digit(4)) {
    return std::nullopt;
  }
  const int hour = (text[0] - '0') * 10 + (text[1] - '0');
  const int minute = (text[3] - '0') * 10 + (text[4] - '0');
  if (minute > 59 || hour > 24 || (hour == 24 && minute != 0)) return std::nullopt;
  return hour * 60 + minute;
}

std::pair<int, int> parse_window(std::string_view text) {
  const std::optional<int> start = parse_time(text.substr(0, 5));
  const std::optional<int> end =
      text.size() == 11 && text[5] == '-' ? parse_time(text.substr(6)) : std::nullopt;
  if (!start || !end) {
    throw std::invalid_argument(
        quoted(text) +
        " is not a time window (expected HH:MM-HH:MM from 00:00 to 24:00, e.g. "
        "08:00-18:00)");
  }
  if (*start == kMinutesPerDay) {
    throw std::invalid_argument(quoted(text) + " starts at 24:00 (24:00 can only end a window)");
  }
  if (*start == *end) {
    throw std::invalid_argument(quoted(text) + " is empty (its start and end are the same)");
  }
  return {*start, *end};
}

// The wall clock time of `t` in the zone, and the zone's abbreviation then.
std::pair<sys_seconds, std::string> local_time(const AllowedHours& hours,
                                               system_clock::time_point t) {
  const sys_seconds utc = floor<seconds>(t);
  tz::LocalTimeType type = tz::locate_zone(hours.zone)->at(utc);
  // sys_seconds stands in for local time: std::chrono::local_t is the same arithmetic.
  return {utc + type.offset, std::move(type.abbreviation)};
}

std::size_t monday_based(sys_days day) { return weekday(day).iso_encoding() - 1; }

}  // namespace

AllowedHours parse_hours(std::string_view text) {
  const std::vector<std::string_view> parts = words(text);
  if (parts.size() < 2 || parts.size() > 3) {
    throw std::invalid_argument(quoted(text) +
                                " is not DAYS HH:MM-HH:MM [ZONE] (e.g. Mon-Fri 08:00-18:00 "
                                "Europe/Paris)");
  }
  AllowedHours hours;
  hours.days = parse_days(parts[0]);
  std::tie(hours.start_minute, hours.end_minute) = parse_window(parts[1]);
  hours.zone = parts.size() == 3 ? std::string(parts[2]) : "UTC";
  tz::locate_zone(hours.zone);  // the zone must exist now, not when a request arrives
  return hours;
}

bool within(const AllowedHours& hours, system_clock::time_point t) {
  const sys_seconds local = local_time(hours, t).first;
  const sys_days today = floor<days>(local);
  const auto minute = static_cast<int>(duration_cast<minutes>(local - today).count());
  const bool open_today = hours.days[monday_based(today)];
  if (hours.start_minute < hours.end_minute) {
    return open_today && minute >= hours.start_minute && minute < hours.end_minute;
  }
  // Across midnight: the evening part belongs to today, the morning part to yesterday.
  const bool open_yesterday = hours.days[monday_based(today - days(1))];
  return (open_today && minute >= hours.start_minute) ||
         (open_yesterday && minute < hours.end_minute);
}

std::optional<system_clock::time_point> window_end(const AllowedHours& hours,
                                                   system_clock::time_point t) {
  if (!within(hours, t)) return t;
  // Windows open and close on whole local minutes, and zone offsets are whole minutes, so
  // the first UTC minute outside is the end. A week and a day covers every weekly pattern.
  system_clock::time_point minute = ceil<minutes>(t);
  if (minute == t) minute += minutes(1);
  for (int i = 0; i < 8 * 24 * 60; ++i, minute += minutes(1)) {
    if (!within(hours, minute)) return minute;
  }
  return std::nullopt;
}

std::string describe_local(const AllowedHours& hours, system_clock::time_point t) {
  const auto [local, abbreviation] = local_time(hours, t);
  const sys_days day = floor<days>(local);
  const year_month_day date(day);
  const hh_mm_ss clock(local - day);
  std::array<char, 32> text{};
  std::snprintf(text.data(), text.size(), "%s %04d-%02u-%02u %02d:%02d",
                kDayNames[monday_based(day)].data(), static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                static_cast<int>(clock.hours().count()), static_cast<int>(clock.minutes().count()));
  return std::string(text.data()) + " " + abbreviation;
}

}  // namespace portcullis::access
