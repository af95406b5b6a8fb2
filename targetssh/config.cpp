#include "targetssh/config.h"

#include <arpa/inet.h>

#include <array>
#include <stdexcept>

namespace portcullis {
namespace {

// "192.0.2.7", "10.0.0.0/8", "2001:db8::/32": what sshd accepts in source-address.
std::string check_source_address(const std::string& text) {
  const std::size_t slash = text.find('/');
  const std::string address = text.substr(0, slash);
  std::array<unsigned char, 16> bytes{};
  const bool v4 = inet_pton(AF_INET, address.c_str(), bytes.data()) == 1;
  const bool v6 = !v4 && inet_pton(AF_INET6, address.c_str(), bytes.data()) == 1;
  if (!v4 && !v6) {
    throw std::invalid_argument("\"" + text + "\" is not an IPv4 or IPv6 address or CIDR block");
  }
  if (slash != std::string::npos) {
    const std::string bits = text.substr(slash + 1);
    const int max = v4 ? 32 : 128;
    if (bits.empty() || bits.size() > 3 || bits.find_first_not_of("0123456789") != bits.npos ||
        std::stoi(bits) > max) {
      throw std::invalid_argument("\"" + text + "\" has a prefix length outside 0 to " +
                                  std::to_string(max));
    }
  }
  return text;
}

constexpr ConfigKey<UpstreamConfig> kUpstreamKeys[] = {
    {"source_addresses",
     [](const ConfigValue& v, UpstreamConfig& u) {
       u.source_addresses = v.parsed_list(check_source_address);
     }},
};

}  // namespace

void declare_upstream_config(ConfigSchema& schema, UpstreamConfig& upstream) {
  schema.table("upstream", upstream, kUpstreamKeys);
}

}  // namespace portcullis
