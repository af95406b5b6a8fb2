#include "access/network.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <optional>
#include <stdexcept>

namespace portcullis {
namespace {

struct Address {
  bool ipv6 = false;
  std::array<unsigned char, 16> bytes{};
};

std::optional<Address> parse_address(std::string_view text) {
  if (text.size() > 64) return std::nullopt;
  std::string copy(text);
  // "[2001:db8::1]" as some places print an IPv6 address.
  if (copy.size() > 2 && copy.front() == '[' && copy.back() == ']')
    copy = copy.substr(1, copy.size() - 2);
  Address address;
  if (inet_pton(AF_INET, copy.c_str(), address.bytes.data()) == 1) return address;
  if (inet_pton(AF_INET6, copy.c_str(), address.bytes.data()) != 1) return std::nullopt;
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(address.bytes.data(), kMapped, sizeof kMapped) == 0) {
    std::memmove(address.bytes.data(), address.bytes.data() + 12, 4);
    std::memset(address.bytes.data() + 4, 0, 12);
    return address;
  }
  address.ipv6 = true;
  return address;
}

bool same_prefix(const std::array<unsigned char, 16>& a, const std::array<unsigned char, 16>& b,
                 int bits) {
  const int whole = bits / 8;
  if (std::memcmp(a.data(), b.data(), static_cast<std::size_t>(whole)) != 0) return false;
  const int rest = bits % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

}  // namespace

NetworkRange parse_network_range(std::string_view text) {
  const std::size_t slash = text.find('/');
  const std::optional<Address> address = parse_address(text.substr(0, slash));
  if (!address) {
    throw std::invalid_argument("\"" + std::string(text.substr(0, 64)) +
                                "\" is not an IPv4 or IPv6 network (e.g. 10.0.0.0/8 or "
                                "2001:db8::/32)");
  }
  const int max_bits = address->ipv6 ? 128 : 32;
  int bits = max_bits;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
    if (error != std::errc() || end != digits.data() + digits.size() || bits < 0 ||
        bits > max_bits) {
      throw std::invalid_argument("\"" + std::string(text.substr(0, 64)) +
                                  "\" has a prefix length that is not 0 to " +
                                  std::to_string(max_bits));
    }
  }
  NetworkRange range{std::string(text), address->ipv6, address->bytes, bits};
  // Host bits set ("10.1.2.3/8") are almost always a typo for another network: say so.
  std::array<unsigned char, 16> masked = address->bytes;
  for (int bit = bits; bit < max_bits; ++bit)
    masked[bit / 8] &= static_cast<unsigned char>(~(0x80 >> (bit % 8)));
  if (masked != address->bytes) {
    throw std::invalid_argument("\"" + std::string(text) +
                                "\" has bits set after its prefix length");
  }
  return range;
}

bool is_address(std::string_view text) { return parse_address(text).has_value(); }

bool in_range(const NetworkRange& range, std::string_view address) {
  const std::optional<Address> parsed = parse_address(address);
  return parsed && parsed->ipv6 == range.ipv6 &&
         same_prefix(parsed->bytes, range.address, range.prefix_bits);
}

}  // namespace portcullis
