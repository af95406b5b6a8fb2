#include "common/common.h"

namespace portcullis {
namespace {

std::invalid_argument bad_address(std::string_view text, const std::string& why) {
  return std::invalid_argument("\"" + std::string(text) + "\" is not HOST:PORT: " + why +
                               " (expected e.g. 127.0.0.1:2222, bastion.example.com:22 or "
                               "[::1]:2222)");
}

std::uint16_t parse_port(std::string_view text, std::string_view port) {
  const std::string why = "the port must be a number from 1 to 65535";
  if (port.empty() || port.size() > 5) throw bad_address(text, why);
  int value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') throw bad_address(text, why);
    value = value * 10 + (c - '0');
  }
  if (value < 1 || value > 65535) throw bad_address(text, why);
  return static_cast<std::uint16_t>(value);
}

}  // namespace

HostPort parse_host_port(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || text.substr(close + 1, 1) != ":") {
      throw bad_address(text, "an IPv6 address in brackets must be followed by :PORT");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) throw bad_address(text, "the port is missing");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    // "::1:22" could be read several ways; brackets make the port unambiguous.
    if (host.find(':') != std::string_view::npos) {
      throw bad_address(text, "write an IPv6 address in brackets");
    }
  }
  if (host.empty()) throw bad_address(text, "the host is missing");
  return HostPort{std::string(host), parse_port(text, port)};
}

}  // namespace portcullis
