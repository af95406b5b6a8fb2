#include "metrics/config.h"

#include <arpa/inet.h>

#include <stdexcept>
#include <string_view>

#include "common/common.h"

namespace portcullis {
namespace {

constexpr ConfigKey<MetricsConfig> kMetricsKeys[] = {
    {"listen",
     [](const ConfigValue& v, MetricsConfig& m) {
       m.listen = v.string();
       v.parsed(metrics_listen_address);
     }},
};

}  // namespace

// An address, never a host name: the HTTP server would resolve a name once, and a name that
// resolves to a public address is how the endpoint ends up where it should not. A bare port
// (which civetweb would take to mean every interface) is refused for the same reason.
std::string metrics_listen_address(std::string_view text) {
  const HostPort address = parse_host_port(text);
  in_addr v4{};
  in6_addr v6{};
  const bool bracketed = text.starts_with('[');
  if (bracketed && ::inet_pton(AF_INET6, address.host.c_str(), &v6) == 1) {
    return "[" + address.host + "]:" + std::to_string(address.port);
  }
  if (!bracketed && ::inet_pton(AF_INET, address.host.c_str(), &v4) == 1) {
    return address.host + ":" + std::to_string(address.port);
  }
  throw std::invalid_argument(
      "\"" + std::string(text) +
      "\" is not an IP address and port: write e.g. 127.0.0.1:9322 or [::1]:9322 (a host "
      "name is not accepted; 0.0.0.0:9322 serves every interface, without authentication)");
}

void declare_metrics_config(ConfigSchema& schema, MetricsConfig& metrics) {
  schema.table("metrics", metrics, kMetricsKeys);
}

}  // namespace portcullis
