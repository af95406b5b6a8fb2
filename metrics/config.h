// [metrics]: where portcullisd serves its Prometheus metrics (docs/metrics.md).
#pragma once

#include <string>

#include "common/config.h"

namespace portcullis {

struct MetricsConfig {
  // "IP:PORT" (e.g. "127.0.0.1:9322", "[::1]:9322") the /metrics endpoint listens on; "" = off.
  // The endpoint has no authentication: whoever reaches the address reads every metric.
  std::string listen;
};

void declare_metrics_config(ConfigSchema& schema, MetricsConfig& metrics);

// The civetweb form of a valid [metrics] listen ("127.0.0.1:9322", "[::1]:9322"). Throws
// std::invalid_argument, saying what is wrong, for anything but an IP address and a port.
std::string metrics_listen_address(std::string_view text);

}  // namespace portcullis
