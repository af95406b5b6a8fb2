#include "access/time_zone.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace portcullis::access::tz {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

constexpr std::uintmax_t kMaxTzifSize = 1 << 20;  // real ones are below 10 KiB

std::string quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

// Reads a TZif file front to back; running past the end throws.
class ByteReader {
 public:
  explicit ByteReader(std::string_view data) : data_(data) {}

  std::string_view take(std::size_t size) {
    if (size > data_.size() - pos_) throw std::invalid_argument("is truncated");
    const std::string_view bytes = data_.substr(pos_, size);
    pos_ += size;
    return bytes;
  }
  std::uint8_t byte() { return static_cast<std::uint8_t>(take(1)[0]); }
  // A big-endian two's complement integer of 4 or 8 bytes.
  std::int64_t integer(std::size_t size) {
    std::uint64_t value = 0;
    for (char c : take(size)) value = value << 8 | static_cast<unsigned char>(c);
    if (size == 4) return static_cast<std::int32_t>(static_cast<std::uint32_t>(value));
    return static_cast<std::int64_t>(value);
  }
  std::string_view rest() const { return data_.substr(pos_); }

 private:
  std::string_view data_;
  std::size_t pos_ = 0;
};

struct Header {
  char version = 0;  // 0 for version 1, else '2', '3', '4'...
  std::uint32_t isutcnt = 0, isstdcnt = 0, leapcnt = 0, timecnt = 0, typecnt = 0, charcnt = 0;
};

Header read_header(ByteReader& in) {
  if (in.take(4) != "TZif") throw std::invalid_argument("is not a TZif file");
  Header header;
  header.version = static_cast<char>(in.byte());
  in.take(15);  // reserved
  for (std::uint32_t* count : {&header.isutcnt, &header.isstdcnt, &header.leapcnt, &header.timecnt,
                               &header.typecnt, &header.charcnt}) {
    *count = static_cast<std::uint32_t>(in.integer(4));
  }
  return header;
}

// Checked only for the block that is used: the version 1 block of a newer file may be empty.
void check_counts(const Header& header) {
  if (header.typecnt == 0 || header.charcnt == 0) {
    throw std::invalid_argument("has no local time types");
  }
  if ((header.isutcnt != 0 && header.isutcnt != header.typecnt) ||
      (header.isstdcnt != 0 && header.isstdcnt != header.typecnt)) {
    throw std::invalid_argument("has inconsistent counts in its header");
  }
  // Leap-second ("right/") zones count TAI-like seconds, not the system clock's.
  if (header.leapcnt != 0) throw std::invalid_argument("has leap seconds, which are unsupported");
}

std::size_t block_size(const Header& h, std::size_t time_size) {
  return std::size_t{h.timecnt} * (time_size + 1) + std::size_t{h.typecnt} * 6 + h.charcnt +
         std::size_t{h.leapcnt} * (time_size + 4) + h.isstdcnt + h.isutcnt;
}

std::vector<std::int64_t> read_transitions(ByteReader& in, const Header& header,
                                           std::size_t time_size) {
  std::vector<std::int64_t> transitions;
  for (std::uint32_t i = 0; i < header.timecnt; ++i) {
    transitions.push_back(in.integer(time_size));
    if (i > 0 && transitions[i] <= transitions[i - 1]) {
      throw std::invalid_argument("has transition times out of order");
    }
  }
  return transitions;
}

std::vector<std::uint8_t> read_transition_types(ByteReader& in, const Header& header) {
  std::vector<std::uint8_t> types;
  for (std::uint32_t i = 0; i < header.timecnt; ++i) {
    types.push_back(in.byte());
    if (types.back() >= header.typecnt) throw std::invalid_argument("has a bad time type index");
  }
  return types;
}

std::vector<LocalTimeType> read_types(ByteReader& in, const Header& header) {
  struct Raw {
    std::int64_t utoff;
    bool isdst;
    std::uint8_t abbreviation_index;
  };
  std::vector<Raw> raw;
  for (std::uint32_t i = 0; i < header.typecnt; ++i) {
    const std::int64_t utoff = in.integer(4);
    const bool isdst = in.byte() != 0;
    raw.push_back({utoff, isdst, in.byte()});
  }
  const std::string_view chars = in.take(header.charcnt);
  std::vector<LocalTimeType> types;
  for (const Raw& type : raw) {
    const std::size_t end = chars.find('\0', type.abbreviation_index);
    if (type.abbreviation_index >= chars.size() || end == std::string_view::npos) {
      throw std::invalid_argument("has an abbreviation out of bounds");
    }
    types.push_back(
        {seconds(type.utoff), type.isdst,
         std::string(chars.substr(type.abbreviation_index, end - type.abbreviation_index))});
  }
  return types;
}

// The TZ string between two newlines after the version 2+ data block; empty means none.
std::string_view read_footer(const ByteReader& in) {
  const std::string_view rest = in.rest();
  const std::size_t end = rest.find('\n', 1);
  if (rest.empty() || rest[0] != '\n' || end == std::string_view::npos) {
    throw std::invalid_argument("has no TZ string footer");
  }
  return rest.substr(1, end - 1);
}

void check_name(std::string_view name) {
  const bool allowed = std::all_of(name.begin(), name.end(), [](char c) {
    return is_alpha(c) || is_digit(c) || c == '/' || c == '_' || c == '-' || c == '+' || c == '.';
  });
  if (name.empty() || !allowed || name.find("..") != std::string_view::npos || name[0] == '/') {
    throw std::invalid_argument(quoted(name) +
                                " is not a time zone name (expected e.g. Europe/Paris or UTC)");
  }
}

std::string read_small_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (!in) throw std::invalid_argument("cannot be read");
  return std::move(bytes).str();
}

TimeZone load_zone(std::string_view name, const fs::path& file) {
  std::error_code error;
  if (!fs::is_regular_file(file, error)) {
    throw std::invalid_argument(quoted(name) + " is not a time zone (there is no file " +
                                file.string() + ")");
  }
  try {
    if (fs::file_size(file) > kMaxTzifSize) throw std::invalid_argument("is too large");
    return TimeZone::parse_tzif(read_small_file(file));
  } catch (const std::exception& e) {
    throw std::invalid_argument(quoted(name) + " is not a time zone (" + file.string() + " " +
                                e.what() + ")");
  }
}

}  // namespace

// --- POSIX TZ strings ----------------------------------------------------------------------

class PosixZone::Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  PosixZone zone() {
    PosixZone zone;
    zone.standard_.abbreviation = name();
    zone.standard_.offset = utc_offset();
    if (done()) return zone;
    LocalTimeType daylight{zone.standard_.offset + std::chrono::hours(1), true, name()};
    if (!done() && peek() != ',') daylight.offset = utc_offset();
    if (done()) fail("has daylight saving time but no rules saying when");
    expect(',');
    zone.start_ = rule();
    expect(',');
    zone.end_ = rule();
    if (!done()) fail("has unexpected text at " + quoted(text_.substr(pos_)));
    zone.daylight_ = daylight;
    return zone;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::invalid_argument("TZ string " + quoted(text_) + " " + what);
  }
  char peek() const { return done() ? '\0' : text_[pos_]; }
  bool done() const { return pos_ == text_.size(); }
  void expect(char c) {
    if (peek() != c)
      fail("lacks a '" + std::string(1, c) + "' at position " + std::to_string(pos_));
    ++pos_;
  }
  template <typename Predicate>
  std::string_view take_while(Predicate predicate) {
    const std::size_t start = pos_;
    while (!done() && predicate(text_[pos_])) ++pos_;
    return text_.substr(start, pos_ - start);
  }

  // "CET", or "<+0530>" for names that are not letters.
  std::string name() {
    std::string_view name;
    if (peek() == '<') {
      ++pos_;
      name = take_while([](char c) { return is_alpha(c) || is_digit(c) || c == '+' || c == '-'; });
      expect('>');
    } else {
      name = take_while(is_alpha);
    }
    if (name.size() < 3) fail("has a zone abbreviation shorter than 3 characters");
    return std::string(name);
  }

  int number(int min, int max) {
    const std::string_view digits = take_while(is_digit);
    int value = 0;
    if (digits.empty() || digits.size() > 3 ||
        std::from_chars(digits.data(), digits.data() + digits.size(), value).ec != std::errc{} ||
        value < min || value > max) {
      fail("has a missing or out of range number at position " + std::to_string(pos_));
    }
    return value;
  }

  // [+-]h[h[h]][:mm[:ss]]
  seconds signed_time(int max_hours) {
    const bool negative = peek() == '-';
    if (peek() == '+' || peek() == '-') ++pos_;
    seconds time = std::chrono::hours(number(0, max_hours));
    if (peek() == ':') {
      ++pos_;
      time += std::chrono::minutes(number(0, 59));
      if (peek() == ':') {
        ++pos_;
        time += seconds(number(0, 59));
      }
    }
    return negative ? -time : time;
  }

  // POSIX offsets count hours west of Greenwich: "CET-1" is UTC+1.
  seconds utc_offset() { return -signed_time(24); }

  Rule rule() {
    Rule rule;
    if (peek() == 'J') {
      ++pos_;
      rule.kind = Rule::Kind::julian_no_leap;
      rule.day = number(1, 365);
    } else if (peek() == 'M') {
      ++pos_;
      rule.kind = Rule::Kind::month_week_day;
      rule.month = number(1, 12);
      expect('.');
      rule.week = number(1, 5);
      expect('.');
      rule.day = number(0, 6);
    } else {
      rule.kind = Rule::Kind::zero_based;
      rule.day = number(0, 365);
    }
    if (peek() == '/') {
      ++pos_;
      rule.time = signed_time(167);  // RFC 8536 section 3.3.1
    }
    return rule;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

PosixZone PosixZone::parse(std::string_view text) { return Parser(text).zone(); }

sys_seconds PosixZone::change_at(const Rule& rule, std::chrono::year year, seconds offset) {
  using namespace std::chrono;
  const sys_days january_first{year / January / 1};
  sys_days day = january_first;
  switch (rule.kind) {
    case Rule::Kind::julian_no_leap:  // February 29 is never counted
      day = january_first + days(rule.day - 1 + (year.is_leap() && rule.day >= 60 ? 1 : 0));
      break;
    case Rule::Kind::zero_based:
      day = january_first + days(rule.day);
      break;
    case Rule::Kind::month_week_day: {
      const weekday weekday(static_cast<unsigned>(rule.day));
      const month month(static_cast<unsigned>(rule.month));
      day = rule.week == 5 ? sys_days{year / month / weekday[last]}
                           : sys_days{year / month / weekday[static_cast<unsigned>(rule.week)]};
      break;
    }
  }
  return day + rule.time - offset;
}

LocalTimeType PosixZone::at(sys_seconds t) const {
  if (!daylight_) return standard_;
  using namespace std::chrono;
  // The changes of the years either side too: southern zones keep daylight saving time across
  // New Year, and a change near New Year may fall in the other year in UTC.
  const year this_year = year_month_day{floor<days>(t)}.year();
  std::array<std::pair<sys_seconds, bool>, 6> changes;  // when, daylight saving after it
  for (std::size_t i = 0; i < 3; ++i) {
    const year each = this_year + years(static_cast<int>(i) - 1);
    changes[2 * i] = {change_at(start_, each, standard_.offset), true};
    changes[2 * i + 1] = {change_at(end_, each, daylight_->offset), false};
  }
  std::sort(changes.begin(), changes.end());  // on a tie (all-year DST) the start comes last
  bool daylight = false;
  for (const auto& [when, after] : changes) {
    if (when <= t) daylight = after;
  }
  return daylight ? *daylight_ : standard_;
}

// --- TZif --------------------------------------------------------------------------------------

TimeZone TimeZone::parse_tzif(std::string_view data) {
  ByteReader in(data);
  Header header = read_header(in);
  std::size_t time_size = 4;
  if (header.version != '\0') {  // skip to the version 2+ block with its 64-bit times
    in.take(block_size(header, 4));
    header = read_header(in);
    time_size = 8;
  }
  check_counts(header);
  TimeZone zone;
  zone.transitions_ = read_transitions(in, header, time_size);
  zone.transition_types_ = read_transition_types(in, header);
  zone.types_ = read_types(in, header);
  in.take(std::size_t{header.isstdcnt} + header.isutcnt);  // only matter to zic
  if (time_size == 8) {
    const std::string_view footer = read_footer(in);
    try {
      if (!footer.empty()) zone.footer_ = PosixZone::parse(footer);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("has a bad footer: ") + e.what());
    }
  }
  return zone;
}

TimeZone TimeZone::utc() {
  TimeZone zone;
  zone.types_.push_back({seconds(0), false, "UTC"});
  return zone;
}

LocalTimeType TimeZone::at(sys_seconds t) const {
  const std::int64_t unix_time = t.time_since_epoch().count();
  // RFC 8536: time type 0 before the first transition, the footer after the last one (or
  // always, when there are no transitions).
  if (!transitions_.empty() && unix_time < transitions_.front()) return types_[0];
  if (footer_ && (transitions_.empty() || unix_time >= transitions_.back())) return footer_->at(t);
  if (transitions_.empty()) return types_[0];
  const auto after = std::upper_bound(transitions_.begin(), transitions_.end(), unix_time);
  return types_[transition_types_[static_cast<std::size_t>(after - transitions_.begin() - 1)]];
}

// --- the zoneinfo folder --------------------------------------------------------------------

fs::path zoneinfo_dir() {
  const char* dir = std::getenv("TZDIR");
  return dir != nullptr && *dir != '\0' ? fs::path(dir) : fs::path("/usr/share/zoneinfo");
}

std::shared_ptr<const TimeZone> locate_zone(std::string_view name) {
  static const auto utc = std::make_shared<const TimeZone>(TimeZone::utc());
  if (name == "UTC") return utc;
  check_name(name);
  const fs::path file = zoneinfo_dir() / std::string(name);
  // Keyed by path so that a test pointing $TZDIR elsewhere gets its own zones. Zones read once
  // per process: a tzdata upgrade takes effect at the next restart.
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const TimeZone>> cache;
  const std::lock_guard lock(mutex);
  if (const auto found = cache.find(file.string()); found != cache.end()) return found->second;
  auto zone = std::make_shared<const TimeZone>(load_zone(name, file));
  cache.emplace(file.string(), zone);
  return zone;
}

}  // namespace portcullis::access::tz
