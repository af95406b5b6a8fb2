// What a failed rotation leads to (pure, unit-tested): when the next attempt is due, and
// whether the account is now `rotation_failed` with an alert raised, once per run of failures.
#pragma once

#include <chrono>
#include <string>

#include "access/rotation.h"
#include "rotation/config.h"

namespace portcullis::rotation {

// The wait before attempt `failures` + 1: retry_initial, doubled after each further failure,
// at most retry_max.
std::chrono::seconds retry_delay(int failures, const RotationConfig& config);

// The outcome of one more failure after `failures_before` in a row.
access::RotationFailure after_failure(int failures_before, std::string error,
                                      const RotationConfig& config);

// True when this failure is the one that reaches alert_after: the alert fires once, not again
// at every later failure.
bool alert_due(const access::RotationFailure& failure, const RotationConfig& config);

}  // namespace portcullis::rotation
