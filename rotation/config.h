// [rotation]: how portcullisd rotates credentials after use (issue 15): how often it looks for
// accounts due, how it backs off from a target that fails, and when it raises an alert.
#pragma once

#include <chrono>

#include "common/config.h"

namespace portcullis {

struct RotationConfig {
  std::chrono::seconds check_interval{15};  // between looks for accounts due
  std::chrono::seconds retry_initial{30};   // after the first failure; doubled after each
  std::chrono::seconds retry_max{3600};     // the longest wait between attempts
  int alert_after = 3;                      // consecutive failures before `rotation_failed`
  std::chrono::seconds timeout{30};         // bounds each wait for the target
  bool operator==(const RotationConfig&) const = default;
};

void declare_rotation_config(ConfigSchema& schema, RotationConfig& rotation);

}  // namespace portcullis
