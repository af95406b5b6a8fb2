// Allowed hours of a [[policy]]: `hours = "Mon-Fri 08:00-18:00 Europe/Paris"` restricts when
// grants may be requested and used, in the wall clock time of a time zone (daylight saving time
// included). Zones come from the TZif files of the system (tzdata), read with cctz.
#pragma once

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis::access {

struct AllowedHours {
  std::array<bool, 7> days{};  // index 0 = Monday ... 6 = Sunday
  // Minutes after local midnight, end exclusive. end < start means the window crosses midnight
  // (22:00-06:00) and belongs to the day it starts on.
  int start_minute = 0, end_minute = 0;
  std::string zone;  // IANA name, "UTC" when omitted
  bool operator==(const AllowedHours&) const = default;
};

// DAYS HH:MM-HH:MM [ZONE]. DAYS is a comma list of days and ranges ("Mon-Fri", "Sat,Sun",
// "Mon,Wed-Fri", "Fri-Mon" wraps), English three-letter names in any case, or "daily". Times run
// 00:00..24:00 (24:00 only as an end); start and end must differ. ZONE is an IANA name
// ("Europe/Paris": parts that start with a letter, joined by single slashes) of a TZif file under
// the zoneinfo folder ($TZDIR, else /usr/share/zoneinfo), except "UTC", which is built in; it is
// loaded and cached now, so a zone that parses here will not fail later. Files with leap
// seconds (right/) and the "slim" files cctz 2.3 cannot follow are refused. Throws
// std::invalid_argument naming the bad part, e.g.
// "\"Mo-Fri\" is not a day (expected Mon, Tue, Wed, Thu, Fri, Sat, Sun or daily)".
AllowedHours parse_hours(std::string_view text);

// Whether `t` falls inside the window, by the wall clock of the zone at that instant. In the hour
// that repeats when clocks go back, both occurrences count; a window inside the hour skipped
// when they go forward is not open that day. Throws std::invalid_argument if the zone cannot be
// loaded (only for an AllowedHours not made by parse_hours).
bool within(const AllowedHours& hours, std::chrono::system_clock::time_point t);

// When the window that holds `t` closes: the first minute after `t` outside it (`t` itself when
// it is outside). nullopt when the window never closes within a week ("daily 00:00-24:00").
std::optional<std::chrono::system_clock::time_point> window_end(
    const AllowedHours& hours, std::chrono::system_clock::time_point t);

// The wall clock time of `t` in the zone, "Wed 2026-11-25 09:30 CET", for messages such as
// "outside allowed hours (Mon-Fri 08:00-18:00 Europe/Paris; now Sat 2026-11-28 10:00 CET)".
std::string describe_local(const AllowedHours& hours, std::chrono::system_clock::time_point t);

}  // namespace portcullis::access
