#include "rotation/config.h"

#include <stdexcept>

#include "common/common.h"

namespace portcullis {
namespace {

// A pause of zero would make a failing target a busy loop.
std::chrono::seconds positive_duration(std::string_view text) {
  const std::chrono::seconds duration = parse_duration(text);
  if (duration.count() == 0) throw std::invalid_argument("must be at least 1s");
  return duration;
}

constexpr ConfigKey<RotationConfig> kRotationKeys[] = {
    {"check_interval", [](const ConfigValue& v,
                          RotationConfig& r) { r.check_interval = v.parsed(positive_duration); }},
    {"retry_initial", [](const ConfigValue& v,
                         RotationConfig& r) { r.retry_initial = v.parsed(positive_duration); }},
    {"retry_max",
     [](const ConfigValue& v, RotationConfig& r) { r.retry_max = v.parsed(positive_duration); }},
    {"alert_after", [](const ConfigValue& v,
                       RotationConfig& r) { r.alert_after = static_cast<int>(v.integer(1, 100)); }},
    {"timeout",
     [](const ConfigValue& v, RotationConfig& r) { r.timeout = v.parsed(positive_duration); }},
};

}  // namespace

void declare_rotation_config(ConfigSchema& schema, RotationConfig& rotation) {
  schema.table("rotation", rotation, kRotationKeys);
}

}  // namespace portcullis
