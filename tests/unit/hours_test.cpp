// Allowed hours and the hand-written time zone code under them. Offsets are cross-checked
// against glibc's own reading of the same files, through `date`.
#include "access/hours.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <thread>

#include "access/time_zone.h"
#include "tests/unit/temp_dir.h"

namespace portcullis::access {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono;
using namespace std::chrono_literals;

// The message parse_hours throws for `text`.
std::string rejection(std::string_view text) {
  try {
    parse_hours(text);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  ADD_FAILURE() << "\"" << text << "\" was accepted";
  return "";
}

std::array<bool, 7> day_set(std::string_view letters) {  // "MTWTF.." style, Monday first
  std::array<bool, 7> result{};
  for (std::size_t i = 0; i < 7; ++i) result[i] = letters[i] != '.';
  return result;
}

tz::LocalTimeType zone_at(std::string_view zone, sys_seconds t) {
  return tz::locate_zone(zone)->at(t);
}

// --- parsing -----------------------------------------------------------------------------------

TEST(HoursParse, GoodSpecs) {
  EXPECT_EQ(parse_hours("Mon-Fri 08:00-18:00 Europe/Paris"),
            (AllowedHours{day_set("MTWTF.."), 8 * 60, 18 * 60, "Europe/Paris"}));
  EXPECT_EQ(parse_hours("Sat,Sun 10:00-12:30"),
            (AllowedHours{day_set(".....SS"), 10 * 60, 12 * 60 + 30, "UTC"}));
  EXPECT_EQ(parse_hours("mon,WED-fri 00:00-24:00 UTC"),
            (AllowedHours{day_set("M.WTF.."), 0, 24 * 60, "UTC"}));
  EXPECT_EQ(parse_hours("Fri-Mon 22:00-06:00 America/New_York"),
            (AllowedHours{day_set("M...FSS"), 22 * 60, 6 * 60, "America/New_York"}));
  EXPECT_EQ(parse_hours("daily 23:59-00:01"), (AllowedHours{day_set("MTWTFSS"), 1439, 1, "UTC"}));
  EXPECT_EQ(parse_hours("DAILY 09:00-17:00").days, day_set("MTWTFSS"));
  EXPECT_EQ(parse_hours("Sun-Sat 09:00-17:00").days, day_set("MTWTFSS"));
  EXPECT_EQ(parse_hours("Tue-Tue,Tue 09:00-17:00").days, day_set(".T....."));
  EXPECT_EQ(parse_hours("  Mon \t 09:00-17:00   Etc/UTC\n"),
            (AllowedHours{day_set("M......"), 9 * 60, 17 * 60, "Etc/UTC"}));
}

TEST(HoursParse, BadSpecsSayWhatIsWrong) {
  const std::string form =
      " is not DAYS HH:MM-HH:MM [ZONE] (e.g. Mon-Fri 08:00-18:00 Europe/Paris)";
  const std::string day = " is not a day (expected Mon, Tue, Wed, Thu, Fri, Sat, Sun or daily)";
  const std::string window =
      " is not a time window (expected HH:MM-HH:MM from 00:00 to 24:00, e.g. 08:00-18:00)";
  const std::string dir = tz::zoneinfo_dir().string();
  const std::pair<std::string_view, std::string> cases[] = {
      {"", "\"\"" + form},
      {"Mon-Fri", "\"Mon-Fri\"" + form},
      {"Mon-Fri 08:00 - 18:00", "\"Mon-Fri 08:00 - 18:00\"" + form},
      {"Mon-Fri 08:00-18:00 Europe/Paris x", "\"Mon-Fri 08:00-18:00 Europe/Paris x\"" + form},
      {"Mo-Fri 08:00-18:00 Europe/Paris", "\"Mo-Fri\"" + day},
      {"Monday 08:00-18:00", "\"Monday\"" + day},
      {"Mon-Wed-Fri 08:00-18:00", "\"Mon-Wed-Fri\"" + day},
      {"Mon,Tue- 08:00-18:00", "\"Tue-\"" + day},
      {"08:00-18:00 Europe/Paris", "\"08:00-18:00\"" + day},
      {"Mon,,Fri 08:00-18:00",
       "\"Mon,,Fri\" has an empty entry (expected days and ranges separated by commas, e.g. "
       "Mon,Wed-Fri)"},
      {"Mon, 08:00-18:00",
       "\"Mon,\" has an empty entry (expected days and ranges separated by commas, e.g. "
       "Mon,Wed-Fri)"},
      {"Mon-Fri 8:00-18:00", "\"8:00-18:00\"" + window},
      {"Mon-Fri 08:00-25:00", "\"08:00-25:00\"" + window},
      {"Mon-Fri 08:60-18:00", "\"08:60-18:00\"" + window},
      {"Mon-Fri 08:00-24:01", "\"08:00-24:01\"" + window},
      {"Mon-Fri 08:00to18:00", "\"08:00to18:00\"" + window},
      {"Mon-Fri 08:00-18:00-", "\"08:00-18:00-\"" + window},
      {"Mon-Fri 08h00-18h00", "\"08h00-18h00\"" + window},
      {"Mon-Fri 24:00-08:00", "\"24:00-08:00\" starts at 24:00 (24:00 can only end a window)"},
      {"Mon-Fri 08:00-08:00", "\"08:00-08:00\" is empty (its start and end are the same)"},
      {"Mon-Fri 08:00-18:00 Europe/Pariss",
       "\"Europe/Pariss\" is not a time zone (there is no file " + dir + "/Europe/Pariss)"},
      {"Mon-Fri 08:00-18:00 Europe",
       "\"Europe\" is not a time zone (there is no file " + dir + "/Europe)"},
      {"Mon-Fri 08:00-18:00 zone1970.tab",
       "\"zone1970.tab\" is not a time zone (" + dir + "/zone1970.tab is not a TZif file)"},
      {"Mon-Fri 08:00-18:00 ../../etc/passwd",
       "\"../../etc/passwd\" is not a time zone name (expected e.g. Europe/Paris or UTC)"},
      {"Mon-Fri 08:00-18:00 Europe/../../../etc/localtime",
       "\"Europe/../../../etc/localtime\" is not a time zone name (expected e.g. Europe/Paris or "
       "UTC)"},
      {"Mon-Fri 08:00-18:00 /etc/localtime",
       "\"/etc/localtime\" is not a time zone name (expected e.g. Europe/Paris or UTC)"},
      {"Mon-Fri 08:00-18:00 Europe/Paris;rm",
       "\"Europe/Paris;rm\" is not a time zone name (expected e.g. Europe/Paris or UTC)"},
  };
  for (const auto& [text, message] : cases) EXPECT_EQ(rejection(text), message) << text;
}

// --- offsets of real zones -----------------------------------------------------------------------

TEST(HoursZone, ParisWinterSummerAndBothSwitchesOf2026) {
  const sys_days spring{2026y / March / 29}, autumn{2026y / October / 25};
  const tz::LocalTimeType cet{1h, false, "CET"}, cest{2h, true, "CEST"};
  EXPECT_EQ(zone_at("Europe/Paris", sys_days{2026y / January / 15} + 12h), cet);
  EXPECT_EQ(zone_at("Europe/Paris", sys_days{2026y / July / 15} + 12h), cest);
  EXPECT_EQ(zone_at("Europe/Paris", spring + 1h - 1s), cet);
  EXPECT_EQ(zone_at("Europe/Paris", spring + 1h), cest);
  EXPECT_EQ(zone_at("Europe/Paris", autumn + 1h - 1s), cest);
  EXPECT_EQ(zone_at("Europe/Paris", autumn + 1h), cet);
  // Past the last transition of a fat file (2037): the footer's rules alone.
  EXPECT_EQ(zone_at("Europe/Paris", sys_days{2080y / March / 31} + 1h - 1s), cet);
  EXPECT_EQ(zone_at("Europe/Paris", sys_days{2080y / March / 31} + 1h), cest);
}

TEST(HoursZone, NewYork) {
  const sys_days spring{2026y / March / 8}, autumn{2026y / November / 1};
  const tz::LocalTimeType est{-5h, false, "EST"}, edt{-4h, true, "EDT"};
  EXPECT_EQ(zone_at("America/New_York", spring + 7h - 1s), est);
  EXPECT_EQ(zone_at("America/New_York", spring + 7h), edt);
  EXPECT_EQ(zone_at("America/New_York", autumn + 6h - 1s), edt);
  EXPECT_EQ(zone_at("America/New_York", autumn + 6h), est);
}

TEST(HoursZone, SydneyIsOnSummerTimeAcrossNewYear) {
  const tz::LocalTimeType aest{10h, false, "AEST"}, aedt{11h, true, "AEDT"};
  EXPECT_EQ(zone_at("Australia/Sydney", sys_days{2026y / January / 1}), aedt);
  EXPECT_EQ(zone_at("Australia/Sydney", sys_days{2026y / July / 1}), aest);
  EXPECT_EQ(zone_at("Australia/Sydney", sys_days{2026y / April / 4} + 16h - 1s), aedt);
  EXPECT_EQ(zone_at("Australia/Sydney", sys_days{2026y / April / 4} + 16h), aest);
  EXPECT_EQ(zone_at("Australia/Sydney", sys_days{2026y / October / 3} + 16h - 1s), aest);
  EXPECT_EQ(zone_at("Australia/Sydney", sys_days{2026y / October / 3} + 16h), aedt);
  EXPECT_EQ(zone_at("Australia/Sydney", sys_days{2090y / December / 31} + 23h), aedt);
}

TEST(HoursZone, Utc) {
  const tz::LocalTimeType utc{0s, false, "UTC"};
  EXPECT_EQ(zone_at("UTC", sys_days{2026y / July / 1}), utc);
  EXPECT_EQ(zone_at("Etc/UTC", sys_days{2026y / July / 1}), utc);
  EXPECT_EQ(zone_at("Etc/UTC", sys_days{1960y / July / 1}), utc);
}

TEST(HoursZone, LoadedOnceAndShared) {
  EXPECT_EQ(tz::locate_zone("Europe/Paris"), tz::locate_zone("Europe/Paris"));
  std::vector<std::thread> threads;
  std::atomic<int> inside = 0;
  for (const char* zone : {"Asia/Tokyo", "Asia/Tokyo", "Europe/Berlin", "Europe/Berlin"}) {
    threads.emplace_back([&inside, zone] {
      const AllowedHours hours{day_set("MTWTFSS"), 0, 24 * 60, zone};
      for (int i = 0; i < 200; ++i) inside += within(hours, system_clock::now()) ? 1 : 0;
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(inside, 800);
}

// --- the window ----------------------------------------------------------------------------------

TEST(HoursWindowEnd, EndsWhereTheLocalWindowCloses) {
  const AllowedHours office = parse_hours("Mon-Fri 08:00-18:00 Europe/Paris");
  const sys_days wednesday_winter{2026y / November / 25}, wednesday_summer{2026y / July / 15};
  // 18:00 in Paris: 17:00 UTC in winter, 16:00 UTC in summer.
  EXPECT_EQ(window_end(office, wednesday_winter + 9h + 123ms), wednesday_winter + 17h);
  EXPECT_EQ(window_end(office, wednesday_summer + 15h + 59min + 59s), wednesday_summer + 16h);
  // Outside the window: it has already ended.
  const auto saturday = sys_days{2026y / November / 28} + 9h;
  EXPECT_EQ(window_end(office, saturday), saturday);
  // Across midnight: the night shift that starts on Friday ends on Saturday morning.
  const AllowedHours nights = parse_hours("Fri 22:00-06:00 UTC");
  EXPECT_EQ(window_end(nights, sys_days{2026y / November / 27} + 23h),
            sys_days{2026y / November / 28} + 6h);
  // Always open: no end within a week.
  EXPECT_EQ(window_end(parse_hours("daily 00:00-24:00"), wednesday_winter + 1h), std::nullopt);
}

TEST(HoursWithin, OfficeHoursInParisWinterAndSummer) {
  const AllowedHours hours = parse_hours("Mon-Fri 08:00-18:00 Europe/Paris");
  const sys_days wednesday_winter{2026y / November / 25}, wednesday_summer{2026y / July / 15};
  EXPECT_FALSE(within(hours, wednesday_winter + 7h - 1s));
  EXPECT_TRUE(within(hours, wednesday_winter + 7h));
  EXPECT_TRUE(within(hours, wednesday_winter + 17h - 1s));
  EXPECT_FALSE(within(hours, wednesday_winter + 17h));
  EXPECT_FALSE(within(hours, wednesday_summer + 6h - 1s));
  EXPECT_TRUE(within(hours, wednesday_summer + 6h));
  EXPECT_TRUE(within(hours, wednesday_summer + 16h - 1s));
  EXPECT_FALSE(within(hours, wednesday_summer + 16h));
  EXPECT_FALSE(within(hours, sys_days{2026y / November / 28} + 9h));  // Saturday
  // Friday 23:30 UTC is Saturday 00:30 in Paris; Sunday 23:30 UTC is Monday 00:30.
  EXPECT_FALSE(within(hours, sys_days{2026y / November / 27} + 23h + 30min));
}

TEST(HoursWithin, HoursSkippedAndRepeatedByDaylightSavingTime) {
  const AllowedHours hours = parse_hours("Sun 02:00-03:00 Europe/Paris");
  const sys_days spring{2026y / March / 29}, autumn{2026y / October / 25};
  for (seconds after_midnight = 0s; after_midnight < 4h; after_midnight += 5min) {
    EXPECT_FALSE(within(hours, spring + after_midnight)) << after_midnight.count();
  }
  EXPECT_FALSE(within(hours, autumn - 1s));  // 01:59:59 CEST
  EXPECT_TRUE(within(hours, autumn));        // 02:00 CEST
  EXPECT_TRUE(within(hours, autumn + 1h - 1s));
  EXPECT_TRUE(within(hours, autumn + 1h));  // 02:00 CET, the second time
  EXPECT_TRUE(within(hours, autumn + 2h - 1s));
  EXPECT_FALSE(within(hours, autumn + 2h));  // 03:00 CET
}

TEST(HoursWithin, OvernightWindowBelongsToTheDayItStarts) {
  const AllowedHours hours = parse_hours("Mon-Fri 22:00-06:00");
  const sys_days friday{2026y / November / 27};
  EXPECT_FALSE(within(hours, friday + 22h - 1s));
  EXPECT_TRUE(within(hours, friday + 22h));
  EXPECT_TRUE(within(hours, friday + 29h + 59min));  // Saturday 05:59
  EXPECT_FALSE(within(hours, friday + 30h));         // Saturday 06:00
  EXPECT_FALSE(within(hours, friday + 46h));         // Saturday 22:00
  EXPECT_FALSE(within(hours, friday + 77h));         // Monday 05:00: Sunday night is closed
  EXPECT_TRUE(within(hours, friday + 94h));          // Monday 22:00
  EXPECT_TRUE(within(hours, friday + 101h));         // Tuesday 05:00
  EXPECT_FALSE(within(hours, sys_days{2026y / November / 23} + 3h));  // Monday 03:00, Sunday night
  EXPECT_TRUE(within(hours, sys_days{2026y / November / 24} + 3h));   // Tuesday 03:00
}

TEST(HoursWithin, OvernightWindowInNewYorkAndWrappingDays) {
  const AllowedHours friday_night = parse_hours("Fri 22:00-06:00 America/New_York");
  const sys_days saturday{2026y / November / 28};
  EXPECT_FALSE(within(friday_night, saturday + 3h - 1s));  // Friday 21:59:59 EST
  EXPECT_TRUE(within(friday_night, saturday + 3h));        // Friday 22:00 EST
  EXPECT_TRUE(within(friday_night, saturday + 11h - 1s));  // Saturday 05:59:59 EST
  EXPECT_FALSE(within(friday_night, saturday + 11h));
  const AllowedHours long_weekend = parse_hours("Fri-Mon 00:00-24:00");
  for (int day = 0; day < 7; ++day) {  // 2026-11-23 is a Monday
    const sys_days date = sys_days{2026y / November / 23} + days(day);
    const bool open = day == 0 || day >= 4;
    EXPECT_EQ(within(long_weekend, date), open) << day;
    EXPECT_EQ(within(long_weekend, date + 24h - 1s), open) << day;
  }
}

TEST(HoursWithin, SydneyOfficeHours) {
  const AllowedHours hours = parse_hours("Mon-Fri 09:00-17:00 Australia/Sydney");
  EXPECT_TRUE(within(hours, sys_days{2026y / January / 5} + 22h));  // Tue 09:00 AEDT
  EXPECT_FALSE(within(hours, sys_days{2026y / January / 5} + 22h - 1s));
  EXPECT_TRUE(within(hours, sys_days{2026y / July / 6} + 23h));  // Tue 09:00 AEST
  EXPECT_FALSE(within(hours, sys_days{2026y / July / 6} + 23h - 1s));
  EXPECT_FALSE(within(hours, sys_days{2026y / July / 3} + 23h));  // Sat 09:00 AEST
}

TEST(HoursWithin, ZoneThatDoesNotExist) {
  const AllowedHours hours{day_set("MTWTFSS"), 0, 24 * 60, "Mars/Olympus_Mons"};
  EXPECT_THROW(within(hours, system_clock::now()), std::invalid_argument);
  EXPECT_THROW(describe_local(hours, system_clock::now()), std::invalid_argument);
}

TEST(HoursDescribe, LocalTimeWithAbbreviation) {
  const AllowedHours paris = parse_hours("Mon-Fri 08:00-18:00 Europe/Paris");
  EXPECT_EQ(describe_local(paris, sys_days{2026y / November / 28} + 9h),
            "Sat 2026-11-28 10:00 CET");
  EXPECT_EQ(describe_local(paris, sys_days{2026y / November / 25} + 8h + 30min + 59s),
            "Wed 2026-11-25 09:30 CET");
  EXPECT_EQ(describe_local(paris, sys_days{2026y / July / 15} + 22h + 5min),
            "Thu 2026-07-16 00:05 CEST");
  EXPECT_EQ(describe_local(parse_hours("daily 09:00-17:00 America/New_York"),
                           sys_days{2027y / January / 1} + 4h + 59min),
            "Thu 2026-12-31 23:59 EST");
  EXPECT_EQ(
      describe_local(parse_hours("daily 09:00-17:00 Asia/Kolkata"), sys_days{2026y / May / 4}),
      "Mon 2026-05-04 05:30 IST");
  EXPECT_EQ(describe_local(parse_hours("daily 09:00-17:00 Asia/Dubai"), sys_days{2026y / May / 4}),
            "Mon 2026-05-04 04:00 +04");
  EXPECT_EQ(describe_local(parse_hours("daily 09:00-17:00"), sys_days{2026y / May / 4}),
            "Mon 2026-05-04 00:00 UTC");
}

// --- cross-checks against glibc ------------------------------------------------------------------

struct CloseProcess {
  void operator()(std::FILE* pipe) const { ::pclose(pipe); }
};

// The UTC offsets `date` prints (+%z) for each instant with TZ set to `tz` (a zone name or a POSIX
// TZ string), in seconds east of UTC.
std::vector<seconds> date_offsets(const std::string& tz, const std::vector<sys_seconds>& instants) {
  std::string command = "printf '";
  for (const sys_seconds t : instants) {
    command += "@" + std::to_string(t.time_since_epoch().count()) + "\\n";
  }
  command += "' | TZ='" + tz + "' date -f - +%z";
  const std::unique_ptr<std::FILE, CloseProcess> pipe(::popen(command.c_str(), "r"));
  if (!pipe) throw std::runtime_error("popen failed");
  std::vector<seconds> offsets;
  std::array<char, 32> line{};
  while (std::fgets(line.data(), line.size(), pipe.get()) != nullptr) {
    const std::string text(line.data());  // "+0530\n"
    const int sign = text[0] == '-' ? -1 : 1;
    offsets.push_back(
        sign * (hours(std::stoi(text.substr(1, 2))) + minutes(std::stoi(text.substr(3, 2)))));
  }
  return offsets;
}

// Every 5 days and 7 hours from `from` to `to`: all hours of the day, all days of the week.
std::vector<sys_seconds> instants(sys_days from, sys_days to) {
  std::vector<sys_seconds> result;
  for (sys_seconds t = from; t < to; t += 24h * 5 + 7h + 13min) result.push_back(t);
  return result;
}

void expect_same_offsets(const std::string& tz, const std::vector<sys_seconds>& times,
                         const std::function<seconds(sys_seconds)>& ours) {
  const std::vector<seconds> theirs = date_offsets(tz, times);
  ASSERT_EQ(theirs.size(), times.size()) << tz;
  int differences = 0;
  for (std::size_t i = 0; i < times.size() && differences < 5; ++i) {
    const seconds offset = ours(times[i]);
    if (offset != theirs[i]) ++differences;
    EXPECT_EQ(offset, theirs[i]) << tz << " at unix time " << times[i].time_since_epoch().count();
  }
}

TEST(HoursOracle, ZoneOffsetsMatchGlibcFrom2020To2035AndBeyond) {
  std::vector<sys_seconds> times = instants(sys_days{2020y / 1 / 1}, sys_days{2036y / 1 / 1});
  for (const sys_seconds t : instants(sys_days{2036y / 1 / 1}, sys_days{2100y / 1 / 1})) {
    if (t.time_since_epoch().count() % 7 == 0) times.push_back(t);  // a sample of the far future
  }
  for (const char* zone :
       {"Europe/Paris", "America/New_York", "Australia/Sydney", "UTC", "Asia/Kolkata",
        "Europe/Dublin", "America/Sao_Paulo", "Asia/Tehran", "Pacific/Chatham", "America/St_Johns",
        "Africa/Casablanca", "Antarctica/Troll", "America/Nuuk", "Australia/Lord_Howe",
        "Pacific/Apia", "Asia/Gaza", "America/Santiago", "Europe/London"}) {
    expect_same_offsets(zone, times, [zone](sys_seconds t) { return zone_at(zone, t).offset; });
  }
}

TEST(HoursOracle, PosixRulesMatchGlibc) {
  const std::vector<sys_seconds> times = instants(sys_days{2023y / 1 / 1}, sys_days{2030y / 1 / 1});
  for (const char* text :
       {"CET-1CEST,M3.5.0,M10.5.0/3", "UTC0", "<+0530>-5:30", "AEST-10AEDT,M10.1.0,M4.1.0/3",
        "EST5EDT,M3.2.0,M11.1.0", "EST5EDT,J60/2,J300/2", "XXX3YYY,59/2,299/2",
        "<-02>2<-01>,M3.5.0/-1,M10.5.0/0", "IST-1GMT0,M10.5.0,M3.5.0/1",
        "<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45", "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
        "NZST-12NZDT-13:30,M9.5.0,M4.1.0/3", "<-03>3<-02>,M3.2.0/-23,M11.1.0/26"}) {
    const tz::PosixZone zone = tz::PosixZone::parse(text);
    expect_same_offsets(text, times, [&zone](sys_seconds t) { return zone.at(t).offset; });
  }
}

// --- hand-made and slim TZif files ---------------------------------------------------------------

// Points $TZDIR at `dir` until destroyed. Tests run on one thread, so setenv is safe here.
class ScopedTzdir {
 public:
  explicit ScopedTzdir(const fs::path& dir) {
    const char* old = std::getenv("TZDIR");
    if (old != nullptr) old_ = old;
    ::setenv("TZDIR", dir.c_str(), 1);
  }
  ScopedTzdir(const ScopedTzdir&) = delete;
  ScopedTzdir& operator=(const ScopedTzdir&) = delete;
  ~ScopedTzdir() {
    if (old_) {
      ::setenv("TZDIR", old_->c_str(), 1);
    } else {
      ::unsetenv("TZDIR");
    }
  }

 private:
  std::optional<std::string> old_;
};

struct Type {
  std::int32_t utoff;
  bool isdst;
  std::string abbreviation;
};

void put(std::string& out, std::uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out += static_cast<char>((value >> (8 * i)) & 0xff);
}

// One header and data block of RFC 8536 with `time_size`-byte times.
std::string tzif_block(char version, const std::vector<std::int64_t>& transitions,
                       const std::vector<std::uint8_t>& indices, const std::vector<Type>& types,
                       int time_size) {
  std::string chars;
  std::string ttinfo;
  for (const Type& type : types) {
    put(ttinfo, static_cast<std::uint32_t>(type.utoff), 4);
    put(ttinfo, type.isdst ? 1 : 0, 1);
    put(ttinfo, chars.size(), 1);
    chars += type.abbreviation + '\0';
  }
  std::string out = "TZif";
  out += version;
  out += std::string(15, '\0');
  for (std::size_t count : {std::size_t{0}, std::size_t{0}, std::size_t{0}, transitions.size(),
                            types.size(), chars.size()}) {
    put(out, count, 4);
  }
  for (const std::int64_t t : transitions) put(out, static_cast<std::uint64_t>(t), time_size);
  for (const std::uint8_t index : indices) put(out, index, 1);
  return out + ttinfo + chars;
}

std::string tzif_v2(const std::vector<std::int64_t>& transitions,
                    const std::vector<std::uint8_t>& indices, const std::vector<Type>& types,
                    std::string_view footer) {
  // A version 1 block that would give wrong answers, to show that the 64-bit one is read.
  return tzif_block('2', {}, {}, {{0, false, "LMT"}}, 4) +
         tzif_block('2', transitions, indices, types, 8) + "\n" + std::string(footer) + "\n";
}

class HoursTzif : public ::testing::Test {
 protected:
  std::string zone_error(std::string_view name) {
    try {
      tz::locate_zone(name);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    ADD_FAILURE() << name << " loaded";
    return "";
  }

  test::TempDir dir_;
  ScopedTzdir tzdir_{dir_.path()};
};

TEST_F(HoursTzif, SlimFileWithOnlyAFooter) {
  dir_.write("Test/Slim", tzif_v2({}, {}, {{3600, false, "CET"}}, "CET-1CEST,M3.5.0,M10.5.0/3"));
  const auto zone = tz::locate_zone("Test/Slim");
  EXPECT_EQ(zone->at(sys_days{2026y / March / 29} + 1h - 1s).offset, 1h);
  EXPECT_EQ(zone->at(sys_days{2026y / March / 29} + 1h), (tz::LocalTimeType{2h, true, "CEST"}));
  EXPECT_EQ(zone->at(sys_days{1950y / January / 1}).abbreviation, "CET");
  EXPECT_TRUE(within(parse_hours("Wed 08:00-09:00 Test/Slim"), sys_days{2026y / July / 15} + 6h));
}

TEST_F(HoursTzif, TransitionsThenFooter) {
  // LMT until 1900, then fixed +01 until 2000, then the footer's rules.
  const std::int64_t y1900 = sys_seconds{sys_days{1900y / 1 / 1}}.time_since_epoch().count();
  const std::int64_t y2000 = sys_seconds{sys_days{2000y / 1 / 1}}.time_since_epoch().count();
  dir_.write("Test/Mixed",
             tzif_v2({y1900, y2000}, {1, 2},
                     {{561, false, "LMT"}, {3600, false, "+01"}, {3600, false, "CET"}},
                     "CET-1CEST,M3.5.0,M10.5.0/3"));
  const auto zone = tz::locate_zone("Test/Mixed");
  EXPECT_EQ(zone->at(sys_days{1899y / July / 1}), (tz::LocalTimeType{561s, false, "LMT"}));
  EXPECT_EQ(zone->at(sys_days{1950y / July / 1}), (tz::LocalTimeType{1h, false, "+01"}));
  EXPECT_EQ(zone->at(sys_days{1999y / December / 31} + 23h), (tz::LocalTimeType{1h, false, "+01"}));
  EXPECT_EQ(zone->at(sys_days{2000y / July / 1}), (tz::LocalTimeType{2h, true, "CEST"}));
}

TEST_F(HoursTzif, VersionOneFile) {
  dir_.write("Test/V1", tzif_block('\0', {1'000'000'000}, {1},
                                   {{-18000, false, "EST"}, {-14400, true, "EDT"}}, 4));
  const auto zone = tz::locate_zone("Test/V1");
  EXPECT_EQ(zone->at(sys_seconds{999'999'999s}).abbreviation, "EST");
  EXPECT_EQ(zone->at(sys_seconds{1'000'000'000s}).abbreviation, "EDT");
  EXPECT_EQ(zone->at(sys_days{2090y / 1 / 1}).abbreviation, "EDT");  // no footer: the last type
}

TEST_F(HoursTzif, DamagedFilesAreRefused) {
  const std::string good = tzif_v2({0}, {0}, {{3600, false, "CET"}}, "CET-1");
  const std::string dir = dir_.path().string();
  const std::pair<std::string, std::string> cases[] = {
      {"", "is truncated"},
      {"TZif2", "is truncated"},
      {"Hello, world\n" + std::string(60, ' '), "is not a TZif file"},
      {good.substr(0, good.size() - 8), "is truncated"},
      {good.substr(0, good.size() - 1), "has no TZ string footer"},
      {good.substr(0, good.size() - 6) + "CET-1CEST\n",
       "has a bad footer: TZ string \"CET-1CEST\" has daylight saving time but no rules saying "
       "when"},
      {good.substr(0, good.size() - 6) + "CET-25\n",
       "has a bad footer: TZ string \"CET-25\" has a missing or out of range number at position 6"},
      {tzif_v2({0}, {1}, {{3600, false, "CET"}}, ""), "has a bad time type index"},
      {tzif_v2({5, 5}, {0, 0}, {{3600, false, "CET"}}, ""), "has transition times out of order"},
      {tzif_v2({}, {}, {}, ""), "has no local time types"},
  };
  int n = 0;
  for (const auto& [bytes, why] : cases) {
    const std::string name = "Bad/" + std::to_string(n++);
    dir_.write(name, bytes);
    EXPECT_EQ(zone_error(name),
              "\"" + name + "\" is not a time zone (" + dir + "/" + name + " " + why + ")");
  }
}

// zic (libc-bin) compiles the system's own tzdata.zi into "slim" files, which leave everything
// after 2007 or so to the footer: they must agree with the installed files.
TEST_F(HoursTzif, SlimFilesCompiledByZicAgreeWithInstalledOnes) {
  const fs::path source = "/usr/share/zoneinfo/tzdata.zi";
  if (!fs::exists("/usr/sbin/zic") || !fs::exists(source)) GTEST_SKIP() << "no zic or tzdata.zi";
  const std::string command =
      "/usr/sbin/zic -b slim -d '" + dir_.path().string() + "' " + source.string() + " 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  std::vector<sys_seconds> times = instants(sys_days{1990y / 1 / 1}, sys_days{2060y / 1 / 1});
  for (const char* name : {"Europe/Paris", "America/New_York", "Australia/Sydney",
                           "Antarctica/Troll", "Pacific/Chatham", "America/Nuuk"}) {
    const auto slim = tz::locate_zone(name);
    ScopedTzdir system_files("/usr/share/zoneinfo");
    const auto installed = tz::locate_zone(name);
    ASSERT_NE(slim, installed);
    for (const sys_seconds t : times) {
      ASSERT_EQ(slim->at(t), installed->at(t)) << name << " " << t.time_since_epoch().count();
    }
  }
}

}  // namespace
}  // namespace portcullis::access
