#include <cctype>
#include <ctime>
#include <limits>

#include "common/common.h"

namespace portcullis {
namespace {

struct Unit {
  char suffix;
  std::int64_t seconds;
};

// Largest first: a duration lists its units in this order, each at most once.
constexpr Unit kUnits[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};

// Ten years: longer than any grant should be, short enough that no arithmetic overflows.
constexpr std::int64_t kMaxSeconds = 10LL * 366 * 86400;

std::invalid_argument bad_duration(std::string_view text, const char* why) {
  return std::invalid_argument("invalid duration '" + std::string(text) + "': " + why +
                               " (expected e.g. 30s, 15m, 8h, 1h30m, 2d)");
}

}  // namespace

std::chrono::seconds parse_duration(std::string_view text) {
  if (text.empty()) throw bad_duration(text, "empty");
  std::int64_t total = 0;
  std::size_t next_unit = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::int64_t number = 0;
    std::size_t digits = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      number = number * 10 + (text[i] - '0');
      if (number > kMaxSeconds) throw bad_duration(text, "too long");
      ++i;
      ++digits;
    }
    if (digits == 0) throw bad_duration(text, "a number must come before each unit");
    if (i == text.size()) throw bad_duration(text, "missing unit after the last number");
    std::size_t unit = next_unit;
    while (unit < std::size(kUnits) && kUnits[unit].suffix != text[i]) ++unit;
    if (unit == std::size(kUnits)) {
      throw bad_duration(text, "units are d, h, m, s, each once, largest first");
    }
    total += number * kUnits[unit].seconds;
    if (total > kMaxSeconds) throw bad_duration(text, "too long");
    next_unit = unit + 1;
    ++i;
  }
  if (total == 0) throw bad_duration(text, "must be longer than zero");
  return std::chrono::seconds(total);
}

std::string format_duration(std::chrono::seconds d) {
  std::int64_t left = d.count();
  if (left <= 0) return "0s";
  std::string text;
  for (const Unit& unit : kUnits) {
    if (left >= unit.seconds) {
      text += std::to_string(left / unit.seconds) + unit.suffix;
      left %= unit.seconds;
    }
  }
  return text;
}

std::string format_rfc3339(std::chrono::system_clock::time_point t) {
  std::time_t seconds = std::chrono::system_clock::to_time_t(
      std::chrono::floor<std::chrono::seconds>(t));
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buffer;
}

HostPort parse_host_port(std::string_view text) {
  std::string host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      throw std::invalid_argument("expected \"[IPV6]:PORT\", got \"" + std::string(text) + "\"");
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
      throw std::invalid_argument("expected \"HOST:PORT\", got \"" + std::string(text) + "\"");
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  int port = 0;
  for (char c : port_text) {
    if (!std::isdigit(static_cast<unsigned char>(c)) || port > 65535) {
      port = -1;
      break;
    }
    port = port * 10 + (c - '0');
  }
  if (port_text.empty() || port <= 0 || port > 65535) {
    throw std::invalid_argument("port must be a number from 1 to 65535, got \"" +
                                std::string(port_text) + "\"");
  }
  return HostPort{host, static_cast<std::uint16_t>(port)};
}

}  // namespace portcullis
