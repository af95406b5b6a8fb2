#include "access/hours.h"

#include <cctz/civil_time.h>
#include <cctz/time_zone.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <utility>
#include <vector>

namespace portcullis::access {
namespace {

namespace fs = std::filesystem;
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

// --- time zones, through cctz ------------------------------------------------------------------

bool is_letter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool is_name_char(char c) {
  return is_letter(c) || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '+' || c == '.';
}

// Like an IANA name ("Europe/Paris", "America/Port-au-Prince", "Etc/GMT+5"): parts separated by
// single slashes, each starting with a letter. The name comes from the config file and becomes a
// path, so this keeps out "..", absolute paths and cctz's own prefixes ("file:", "libc:").
void check_zone_name(std::string_view name) {
  bool valid = !name.empty();
  for (std::string_view part : split(name, "/")) {
    valid = valid && !part.empty() && is_letter(part[0]) &&
            std::all_of(part.begin(), part.end(), is_name_char);
  }
  if (!valid) {
    throw std::invalid_argument(quoted(name) +
                                " is not a time zone name (expected e.g. Europe/Paris or UTC)");
  }
}

// $TZDIR when set and not empty, else /usr/share/zoneinfo. cctz would look there by itself; the
// full path is given to it instead so that the messages can name the file.
fs::path zone_file(std::string_view name) {
  const char* dir = std::getenv("TZDIR");
  fs::path file = dir != nullptr && *dir != '\0' ? fs::path(dir) : fs::path("/usr/share/zoneinfo");
  file /= std::string(name);
  std::error_code ignored;
  if (file.is_relative()) file = fs::absolute(file, ignored);
  return file;
}

// Why cctz refused `file`: it only says that it did.
std::string why_refused(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in.is_open()) return "cannot be read";
  std::array<char, 4> magic{};
  if (!in.read(magic.data(), magic.size()) || std::string_view(magic.data(), 4) != "TZif") {
    return "is not a TZif file";
  }
  return "is a TZif file cctz 2.3 refuses (damaged, with leap seconds as in right/, or a slim "
         "file it cannot follow)";
}

// Holds what is written to std::clog while it lives. cctz 2.3 writes there, and only there, when a
// file's TZ string disagrees with its last transitions (nothing else in Portcullis uses std::clog).
class ClogCapture {
 public:
  ClogCapture() : old_(std::clog.rdbuf(captured_.rdbuf())) {}
  ClogCapture(const ClogCapture&) = delete;
  ClogCapture& operator=(const ClogCapture&) = delete;
  ~ClogCapture() { std::clog.rdbuf(old_); }
  // The first line, without the file name cctz starts it with.
  std::string remark() const {
    std::string text = captured_.str();
    text = text.substr(0, text.find('\n'));
    const std::size_t after_name = text.find(": ");
    return after_name == std::string::npos ? text : text.substr(after_name + 2);
  }

 private:
  std::ostringstream captured_;
  std::streambuf* old_;
};

struct LoadedZone {
  std::optional<cctz::time_zone> zone;
  std::string error;  // when !zone
};

// cctz 2.3 predates the "slim" TZif files zic writes by default since 2020 (cctz 2.4 reads them):
// where the TZ string does not match the last two transitions, it answers from those alone,
// wrongly (slim Europe/Lisbon shows CET in summer), and only says so on std::clog. Debian installs
// "fat" files, which it reads right; a $TZDIR of slim files is refused instead of misread.
LoadedZone load_zone(std::string_view name, const fs::path& file) {
  const auto refused = [&](const std::string& why) {
    return LoadedZone{std::nullopt,
                      quoted(name) + " is not a time zone (" + file.string() + " " + why + ")"};
  };
  cctz::time_zone zone;
  bool loaded = false;
  std::string remark;
  {
    const ClogCapture clog;
    loaded = cctz::load_time_zone(file.string(), &zone);
    remark = clog.remark();
  }
  if (!remark.empty()) {
    return refused("has a TZ string that cctz 2.3 cannot follow, as in slim TZif files: " + remark);
  }
  if (!loaded) return refused(why_refused(file));
  return LoadedZone{zone, {}};
}

// The zone called `name`, loaded the first time it is asked for and kept for the life of the
// process (thread-safe): a tzdata upgrade takes effect at the next restart. "UTC" is built in.
// Keyed by path, so that a test pointing $TZDIR elsewhere gets its own zones. A missing file is
// not remembered; cctz would remember a refused one anyway.
cctz::time_zone locate_zone(std::string_view name) {
  if (name == "UTC") return cctz::utc_time_zone();
  check_zone_name(name);
  const fs::path file = zone_file(name);
  static std::mutex mutex;
  static std::map<std::string, LoadedZone, std::less<>> cache;
  const std::lock_guard lock(mutex);
  auto found = cache.find(file.string());
  if (found == cache.end()) {
    std::error_code error;
    if (!fs::is_regular_file(file, error)) {
      throw std::invalid_argument(quoted(name) + " is not a time zone (there is no file " +
                                  file.string() + ")");
    }
    found = cache.emplace(file.string(), load_zone(name, file)).first;
  }
  if (!found->second.zone) throw std::invalid_argument(found->second.error);
  return *found->second.zone;
}

// --- the window --------------------------------------------------------------------------------

std::size_t monday_based(const cctz::civil_day& day) {
  return static_cast<std::size_t>(cctz::get_weekday(day));  // cctz counts from Monday too
}

// Whether the wall clock time `local` is inside the window.
bool open_at(const AllowedHours& hours, const cctz::civil_second& local) {
  const cctz::civil_day today(local);
  const int minute = local.hour() * 60 + local.minute();
  const bool open_today = hours.days[monday_based(today)];
  if (hours.start_minute < hours.end_minute) {
    return open_today && minute >= hours.start_minute && minute < hours.end_minute;
  }
  // Across midnight: the evening part belongs to today, the morning part to yesterday.
  const bool open_yesterday = hours.days[monday_based(today - 1)];
  return (open_today && minute >= hours.start_minute) ||
         (open_yesterday && minute < hours.end_minute);
}

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
  locate_zone(hours.zone);  // the zone must exist now, not when a request arrives
  return hours;
}

// The wall clock time at an instant is what cctz's lookup gives: in the hour that repeats, both
// instants show it; no instant shows the hour that is skipped.
bool within(const AllowedHours& hours, system_clock::time_point t) {
  return open_at(hours, locate_zone(hours.zone).lookup(t).cs);
}

std::optional<system_clock::time_point> window_end(const AllowedHours& hours,
                                                   system_clock::time_point t) {
  const cctz::time_zone zone = locate_zone(hours.zone);
  const auto inside = [&](system_clock::time_point when) {
    return open_at(hours, zone.lookup(when).cs);
  };
  if (!inside(t)) return t;
  // Windows open and close on whole local minutes, and zone offsets are whole minutes, so
  // the first UTC minute outside is the end. A week and a day covers every weekly pattern.
  system_clock::time_point minute = ceil<minutes>(t);
  if (minute == t) minute += minutes(1);
  for (int i = 0; i < 8 * 24 * 60; ++i, minute += minutes(1)) {
    if (!inside(minute)) return minute;
  }
  return std::nullopt;
}

std::string describe_local(const AllowedHours& hours, system_clock::time_point t) {
  const cctz::time_zone::absolute_lookup local = locate_zone(hours.zone).lookup(t);
  const cctz::civil_second& clock = local.cs;
  std::array<char, 48> text{};
  std::snprintf(text.data(), text.size(), "%s %04d-%02d-%02d %02d:%02d",
                kDayNames[monday_based(cctz::civil_day(clock))].data(),
                static_cast<int>(clock.year()), clock.month(), clock.day(), clock.hour(),
                clock.minute());
  return std::string(text.data()) + " " + local.abbr;
}

}  // namespace portcullis::access
