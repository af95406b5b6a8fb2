// Network ranges ("10.0.0.0/8", "2001:db8::/32") for [[policy]] source and deny_source.
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace portcullis {

struct NetworkRange {
  std::string text;  // as written, for messages
  bool ipv6 = false;
  std::array<unsigned char, 16> address{};
  int prefix_bits = 0;
  bool operator==(const NetworkRange&) const = default;
};

// "ADDRESS/BITS" or a lone address (all its bits). Throws std::invalid_argument saying why.
NetworkRange parse_network_range(std::string_view text);

// Whether `address` (as a client address is printed; an IPv4-mapped IPv6 address counts as its
// IPv4 address) lies in `range`. An unparsable address lies in no range.
bool in_range(const NetworkRange& range, std::string_view address);
// Whether `text` is an IPv4 or IPv6 address in_range can place.
bool is_address(std::string_view text);

}  // namespace portcullis
