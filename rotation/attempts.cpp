#include "rotation/attempts.h"

#include <algorithm>

namespace portcullis::rotation {

std::chrono::seconds retry_delay(int failures, const RotationConfig& config) {
  std::chrono::seconds delay = config.retry_initial;
  for (int i = 1; i < failures && delay < config.retry_max; ++i) delay *= 2;
  return std::min(delay, config.retry_max);
}

access::RotationFailure after_failure(int failures_before, std::string error,
                                      const RotationConfig& config) {
  const int failures = failures_before + 1;
  return access::RotationFailure{std::move(error), failures, retry_delay(failures, config),
                                 failures >= config.alert_after};
}

bool alert_due(const access::RotationFailure& failure, const RotationConfig& config) {
  return failure.failures == config.alert_after;
}

}  // namespace portcullis::rotation
