// [upstream]: how the bastion appears to targets.
#pragma once

#include <string>
#include <vector>

#include "common/config.h"

namespace portcullis {

struct UpstreamConfig {
  // The addresses (or CIDR blocks) the bastion's connections to targets come from. When set,
  // every certificate it signs carries them as the source-address critical option, so a
  // certificate copied off a target is useless from anywhere else.
  std::vector<std::string> source_addresses;
  bool operator==(const UpstreamConfig&) const = default;
};

void declare_upstream_config(ConfigSchema& schema, UpstreamConfig& upstream);

}  // namespace portcullis
