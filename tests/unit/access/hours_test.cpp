// Allowed hours and the time zones under them (read with cctz). Local times are cross-checked
// against glibc's own reading of the same files, through `date`.
#include "access/hours.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include "tests/support/temp_dir.h"

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

// The wall clock time in `zone` at `t`, as describe_local prints it: "Sun 2026-03-29 03:00 CEST".
std::string local(const std::string& zone, sys_seconds t) {
  return describe_local(parse_hours("daily 00:00-24:00 " + zone), t);
}

// Where zones are looked for: $TZDIR when set and not empty, else /usr/share/zoneinfo.
std::string zoneinfo_dir() {
  const char* dir = std::getenv("TZDIR");
  return dir != nullptr && *dir != '\0' ? dir : "/usr/share/zoneinfo";
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
  for (const char* zone : {"Etc/GMT+5", "Etc/GMT-14", "America/Port-au-Prince",
                           "America/Argentina/Buenos_Aires", "EST5EDT", "GMT0"}) {
    EXPECT_EQ(parse_hours(std::string("daily 09:00-17:00 ") + zone).zone, zone);
  }
}

TEST(HoursParse, BadSpecsSayWhatIsWrong) {
  const std::string form =
      " is not DAYS HH:MM-HH:MM [ZONE] (e.g. Mon-Fri 08:00-18:00 Europe/Paris)";
  const std::string day = " is not a day (expected Mon, Tue, Wed, Thu, Fri, Sat, Sun or daily)";
  const std::string window =
      " is not a time window (expected HH:MM-HH:MM from 00:00 to 24:00, e.g. 08:00-18:00)";
  const std::string dir = zoneinfo_dir();
  const std::string name = " is not a time zone name (expected e.g. Europe/Paris or UTC)";
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
      {"Mon-Fri 08:00-18:00 ../../etc/passwd", "\"../../etc/passwd\"" + name},
      {"Mon-Fri 08:00-18:00 Europe/../../../etc/localtime",
       "\"Europe/../../../etc/localtime\"" + name},
      {"Mon-Fri 08:00-18:00 /etc/localtime", "\"/etc/localtime\"" + name},
      {"Mon-Fri 08:00-18:00 Europe/Paris;rm", "\"Europe/Paris;rm\"" + name},
      // Each part starts with a letter: no ".", no empty part, none of cctz's own prefixes.
      {"Mon-Fri 08:00-18:00 Europe/./Paris", "\"Europe/./Paris\"" + name},
      {"Mon-Fri 08:00-18:00 Europe//Paris", "\"Europe//Paris\"" + name},
      {"Mon-Fri 08:00-18:00 Europe/Paris/", "\"Europe/Paris/\"" + name},
      {"Mon-Fri 08:00-18:00 _Europe/Paris", "\"_Europe/Paris\"" + name},
      {"Mon-Fri 08:00-18:00 file:Europe/Paris", "\"file:Europe/Paris\"" + name},
      {"Mon-Fri 08:00-18:00 libc:localtime", "\"libc:localtime\"" + name},
      {"Mon-Fri 08:00-18:00 Fixed/UTC+01:00:00", "\"Fixed/UTC+01:00:00\"" + name},
  };
  for (const auto& [text, message] : cases) EXPECT_EQ(rejection(text), message) << text;
}

// The right/ zones count leap seconds, which the system clock does not.
TEST(HoursParse, ZonesWithLeapSecondsAreRefused) {
  const std::string file = zoneinfo_dir() + "/right/Europe/Paris";
  if (!fs::exists(file)) GTEST_SKIP() << "no " << file;
  EXPECT_EQ(rejection("Mon-Fri 08:00-18:00 right/Europe/Paris"),
            "\"right/Europe/Paris\" is not a time zone (" + file +
                " is a TZif file cctz 2.3 refuses (damaged, with leap seconds as in right/, or a "
                "slim file it cannot follow))");
}

// --- local times of real zones ------------------------------------------------------------------

TEST(HoursZone, ParisWinterSummerAndBothSwitchesOf2026) {
  const sys_days spring{2026y / March / 29}, autumn{2026y / October / 25};
  EXPECT_EQ(local("Europe/Paris", sys_days{2026y / January / 15} + 12h),
            "Thu 2026-01-15 13:00 CET");
  EXPECT_EQ(local("Europe/Paris", sys_days{2026y / July / 15} + 12h), "Wed 2026-07-15 14:00 CEST");
  EXPECT_EQ(local("Europe/Paris", spring + 1h - 1s), "Sun 2026-03-29 01:59 CET");
  EXPECT_EQ(local("Europe/Paris", spring + 1h), "Sun 2026-03-29 03:00 CEST");
  EXPECT_EQ(local("Europe/Paris", autumn + 1h - 1s), "Sun 2026-10-25 02:59 CEST");
  EXPECT_EQ(local("Europe/Paris", autumn + 1h), "Sun 2026-10-25 02:00 CET");
  // Past the last transition of a fat file (2037): the TZ string's rules alone.
  EXPECT_EQ(local("Europe/Paris", sys_days{2080y / March / 31} + 1h - 1s),
            "Sun 2080-03-31 01:59 CET");
  EXPECT_EQ(local("Europe/Paris", sys_days{2080y / March / 31} + 1h), "Sun 2080-03-31 03:00 CEST");
}

TEST(HoursZone, NewYork) {
  const sys_days spring{2026y / March / 8}, autumn{2026y / November / 1};
  EXPECT_EQ(local("America/New_York", spring + 7h - 1s), "Sun 2026-03-08 01:59 EST");
  EXPECT_EQ(local("America/New_York", spring + 7h), "Sun 2026-03-08 03:00 EDT");
  EXPECT_EQ(local("America/New_York", autumn + 6h - 1s), "Sun 2026-11-01 01:59 EDT");
  EXPECT_EQ(local("America/New_York", autumn + 6h), "Sun 2026-11-01 01:00 EST");
}

TEST(HoursZone, SydneyIsOnSummerTimeAcrossNewYear) {
  const std::string sydney = "Australia/Sydney";
  EXPECT_EQ(local(sydney, sys_days{2026y / January / 1}), "Thu 2026-01-01 11:00 AEDT");
  EXPECT_EQ(local(sydney, sys_days{2026y / July / 1}), "Wed 2026-07-01 10:00 AEST");
  EXPECT_EQ(local(sydney, sys_days{2026y / April / 4} + 16h - 1s), "Sun 2026-04-05 02:59 AEDT");
  EXPECT_EQ(local(sydney, sys_days{2026y / April / 4} + 16h), "Sun 2026-04-05 02:00 AEST");
  EXPECT_EQ(local(sydney, sys_days{2026y / October / 3} + 16h - 1s), "Sun 2026-10-04 01:59 AEST");
  EXPECT_EQ(local(sydney, sys_days{2026y / October / 3} + 16h), "Sun 2026-10-04 03:00 AEDT");
  EXPECT_EQ(local(sydney, sys_days{2090y / December / 31} + 23h), "Mon 2091-01-01 10:00 AEDT");
}

TEST(HoursZone, Utc) {
  EXPECT_EQ(local("UTC", sys_days{2026y / July / 1}), "Wed 2026-07-01 00:00 UTC");
  EXPECT_EQ(local("Etc/UTC", sys_days{2026y / July / 1}), "Wed 2026-07-01 00:00 UTC");
  EXPECT_EQ(local("Etc/UTC", sys_days{1960y / July / 1}), "Fri 1960-07-01 00:00 UTC");
}

// Zones no other test loads, so that the threads race to load them.
TEST(HoursZone, LoadedSafelyByManyThreadsAtOnce) {
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

// What `date` prints for each instant with TZ set to `zone`, in describe_local's format.
std::vector<std::string> date_lines(const std::string& zone,
                                    const std::vector<sys_seconds>& instants) {
  std::string command = "printf '";
  for (const sys_seconds t : instants) {
    command += "@" + std::to_string(t.time_since_epoch().count()) + "\\n";
  }
  command += "' | LC_ALL=C TZ='" + zone + "' date -f - '+%a %Y-%m-%d %H:%M %Z'";
  const std::unique_ptr<std::FILE, CloseProcess> pipe(::popen(command.c_str(), "r"));
  if (!pipe) throw std::runtime_error("popen failed");
  std::vector<std::string> lines;
  std::array<char, 64> line{};
  while (std::fgets(line.data(), line.size(), pipe.get()) != nullptr) {
    std::string text(line.data());
    if (!text.empty() && text.back() == '\n') text.pop_back();
    lines.push_back(std::move(text));
  }
  return lines;
}

// Every 5 days and 7 hours from `from` to `to`: all hours of the day, all days of the week.
std::vector<sys_seconds> instants(sys_days from, sys_days to) {
  std::vector<sys_seconds> result;
  for (sys_seconds t = from; t < to; t += 24h * 5 + 7h + 13min) result.push_back(t);
  return result;
}

// Local time, day of the week and abbreviation: what an offset or a rule read wrong would change.
TEST(HoursOracle, LocalTimesMatchGlibcFrom2020To2035AndBeyond) {
  std::vector<sys_seconds> times = instants(sys_days{2020y / 1 / 1}, sys_days{2036y / 1 / 1});
  for (const sys_seconds t : instants(sys_days{2036y / 1 / 1}, sys_days{2100y / 1 / 1})) {
    if (t.time_since_epoch().count() % 7 == 0) times.push_back(t);  // a sample of the far future
  }
  for (const char* zone :
       {"Europe/Paris", "America/New_York", "Australia/Sydney", "UTC", "Asia/Kolkata",
        "Europe/Dublin", "America/Sao_Paulo", "Asia/Tehran", "Pacific/Chatham", "America/St_Johns",
        "Africa/Casablanca", "Antarctica/Troll", "America/Nuuk", "Australia/Lord_Howe",
        "Pacific/Apia", "Asia/Gaza", "America/Santiago", "Europe/London"}) {
    const std::vector<std::string> theirs = date_lines(zone, times);
    ASSERT_EQ(theirs.size(), times.size()) << zone;
    int differences = 0;
    for (std::size_t i = 0; i < times.size() && differences < 5; ++i) {
      const std::string ours = local(zone, times[i]);
      if (ours != theirs[i]) ++differences;
      EXPECT_EQ(ours, theirs[i]) << zone << " at unix time " << times[i].time_since_epoch().count();
    }
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
  test::TempDir dir_;
  ScopedTzdir tzdir_{dir_.path()};
};

TEST_F(HoursTzif, TransitionsThenTzString) {
  // LMT until 1900, fixed +01 until 2000, the summer of 2000, then the TZ string's rules.
  const auto at = [](sys_seconds t) { return t.time_since_epoch().count(); };
  dir_.write(
      "Test/Mixed",
      tzif_v2(
          {at(sys_days{1900y / 1 / 1}), at(sys_days{2000y / 3 / 26} + 1h),
           at(sys_days{2000y / 10 / 29} + 1h)},
          {1, 2, 3},
          {{561, false, "LMT"}, {3600, false, "+01"}, {7200, true, "CEST"}, {3600, false, "CET"}},
          "CET-1CEST,M3.5.0,M10.5.0/3"));
  EXPECT_EQ(local("Test/Mixed", sys_days{1899y / July / 1}), "Sat 1899-07-01 00:09 LMT");
  EXPECT_EQ(local("Test/Mixed", sys_days{1950y / July / 1}), "Sat 1950-07-01 01:00 +01");
  EXPECT_EQ(local("Test/Mixed", sys_days{2000y / July / 1}), "Sat 2000-07-01 02:00 CEST");
  EXPECT_EQ(local("Test/Mixed", sys_days{2026y / January / 15} + 12h), "Thu 2026-01-15 13:00 CET");
  EXPECT_EQ(local("Test/Mixed", sys_days{2026y / March / 29} + 1h), "Sun 2026-03-29 03:00 CEST");
  EXPECT_TRUE(within(parse_hours("Wed 08:00-09:00 Test/Mixed"), sys_days{2026y / July / 15} + 6h));
}

TEST_F(HoursTzif, SlimFileOfAFixedOffset) {
  dir_.write("Test/Fixed", tzif_v2({}, {}, {{19800, false, "IST"}}, "IST-5:30"));
  EXPECT_EQ(local("Test/Fixed", sys_days{2026y / May / 4}), "Mon 2026-05-04 05:30 IST");
  EXPECT_EQ(local("Test/Fixed", sys_days{2090y / May / 4}), "Thu 2090-05-04 05:30 IST");
}

TEST_F(HoursTzif, VersionOneFile) {
  dir_.write("Test/V1", tzif_block('\0', {1'000'000'000}, {1},
                                   {{-18000, false, "EST"}, {-14400, true, "EDT"}}, 4));
  EXPECT_EQ(local("Test/V1", sys_seconds{999'999'999s}), "Sat 2001-09-08 20:46 EST");
  EXPECT_EQ(local("Test/V1", sys_seconds{1'000'000'000s}), "Sat 2001-09-08 21:46 EDT");
  // No TZ string: the last type stays.
  EXPECT_EQ(local("Test/V1", sys_days{2090y / 1 / 1}), "Sat 2089-12-31 20:00 EDT");
}

// cctz 2.3 extends a zone past its last transition only from its last two transitions: a file
// that leaves everything to its TZ string, as slim ones do, would be read as standard time
// forever. It is refused, naming what cctz said.
TEST_F(HoursTzif, TzStringThatCctzCannotFollowIsRefused) {
  dir_.write("Test/Slim", tzif_v2({}, {}, {{3600, false, "CET"}}, "CET-1CEST,M3.5.0,M10.5.0/3"));
  const std::string file = dir_.path().string() + "/Test/Slim";
  EXPECT_EQ(rejection("daily 08:00-18:00 Test/Slim"),
            "\"Test/Slim\" is not a time zone (" + file +
                " has a TZ string that cctz 2.3 cannot follow, as in slim TZif files: Too few "
                "transitions for POSIX spec)");
  // Remembered: asked again, the zone is refused again (cctz itself would now say nothing).
  EXPECT_THROW(parse_hours("daily 08:00-18:00 Test/Slim"), std::invalid_argument);
  EXPECT_THROW(within(AllowedHours{day_set("MTWTFSS"), 0, 60, "Test/Slim"}, system_clock::now()),
               std::invalid_argument);
}

TEST_F(HoursTzif, DamagedFilesAreRefused) {
  const std::string good = tzif_v2({0}, {0}, {{3600, false, "CET"}}, "CET-1");
  const std::string not_tzif = "is not a TZif file";
  const std::string refused =
      "is a TZif file cctz 2.3 refuses (damaged, with leap seconds as in right/, or a slim file "
      "it cannot follow)";
  const std::string tz_string =
      "has a TZ string that cctz 2.3 cannot follow, as in slim TZif files: Failed to parse "
      "'CET-25'";
  const std::pair<std::string, std::string> cases[] = {
      {"", not_tzif},
      {"TZif2", refused},
      {"Hello, world\n" + std::string(60, ' '), not_tzif},
      {good.substr(0, good.size() - 8), refused},
      {good.substr(0, good.size() - 1), refused},  // no newline after the TZ string
      {good.substr(0, good.size() - 6) + "CET-25\n", tz_string},
      {tzif_v2({0}, {1}, {{3600, false, "CET"}}, ""), refused},        // no type 1
      {tzif_v2({5, 5}, {0, 0}, {{3600, false, "CET"}}, ""), refused},  // out of order
      {tzif_v2({}, {}, {}, ""), refused},                              // no types
  };
  int n = 0;
  for (const auto& [bytes, why] : cases) {
    const std::string name = "Bad/N" + std::to_string(n++);
    const std::string file = dir_.write(name, bytes).string();
    EXPECT_EQ(rejection("daily 08:00-18:00 " + name),
              "\"" + name + "\" is not a time zone (" + file + " " + why + ")");
  }
  dir_.write("Good/Zone", good);  // and the good one loads
  EXPECT_EQ(local("Good/Zone", sys_days{2026y / May / 4}), "Mon 2026-05-04 01:00 CET");
}

// zic (libc-bin) compiles the system's own tzdata.zi into "slim" files, which leave everything
// after the last change of rules to the TZ string. cctz 2.3 predates them: every zone must either
// read as the installed (fat) file does or be refused, never misread.
TEST_F(HoursTzif, SlimFilesCompiledByZicAreReadRightOrRefused) {
  const fs::path source = "/usr/share/zoneinfo/tzdata.zi";
  if (!fs::exists("/usr/sbin/zic") || !fs::exists(source)) GTEST_SKIP() << "no zic or tzdata.zi";
  const std::string command =
      "/usr/sbin/zic -b slim -d '" + dir_.path().string() + "' " + source.string() + " 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : fs::recursive_directory_iterator(dir_.path())) {
    if (entry.is_regular_file()) names.push_back(entry.path().lexically_relative(dir_.path()));
  }
  std::sort(names.begin(), names.end());
  ASSERT_GT(names.size(), 300u);
  std::vector<sys_seconds> times;  // every 29 days and 7 hours, 1990 to 2060
  for (sys_seconds t = sys_days{1990y / 1 / 1}; t < sys_days{2060y / 1 / 1}; t += 24h * 29 + 7h) {
    times.push_back(t);
  }
  std::vector<std::string> refused;
  for (const std::string& name : names) {
    const std::string hours = "daily 00:00-24:00 " + name;
    std::optional<AllowedHours> slim;
    try {
      slim = parse_hours(hours);
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("cctz 2.3"), std::string::npos) << e.what();
      refused.push_back(name);
      continue;
    }
    std::vector<std::string> slim_times;
    slim_times.reserve(times.size());
    for (const sys_seconds t : times) slim_times.push_back(describe_local(*slim, t));
    ScopedTzdir system_files("/usr/share/zoneinfo");
    const AllowedHours installed = parse_hours(hours);
    for (std::size_t i = 0; i < times.size(); ++i) {
      ASSERT_EQ(slim_times[i], describe_local(installed, times[i]))
          << name << " " << times[i].time_since_epoch().count();
    }
  }
  for (const char* name : {"Europe/Paris", "America/New_York", "Australia/Sydney", "Asia/Tokyo"}) {
    EXPECT_EQ(std::count(refused.begin(), refused.end(), name), 0) << name << " was refused";
  }
  EXPECT_LT(refused.size(), names.size() / 10);
}

}  // namespace
}  // namespace portcullis::access
