// A failing rotation: back-off, then `rotation_failed` and one alert at alert_after.
#include "rotation/attempts.h"

#include <gtest/gtest.h>

#include "rotation/password.h"

namespace portcullis::rotation {
namespace {

using namespace std::chrono_literals;

RotationConfig config() {
  RotationConfig c;
  c.retry_initial = 30s;
  c.retry_max = 300s;
  c.alert_after = 3;
  return c;
}

// The wait doubles from retry_initial and stops at retry_max.
TEST(RotationAttempts, BacksOffUpToTheMaximum) {
  EXPECT_EQ(retry_delay(1, config()), 30s);
  EXPECT_EQ(retry_delay(2, config()), 60s);
  EXPECT_EQ(retry_delay(4, config()), 240s);
  EXPECT_EQ(retry_delay(5, config()), 300s);
  EXPECT_EQ(retry_delay(1000, config()), 300s);
}

// pending, pending, then rotation_failed with the alert once; later failures stay failed
// without a second alert.
TEST(RotationAttempts, FailsAndAlertsAtAlertAfter) {
  access::RotationFailure first = after_failure(0, "target down", config());
  EXPECT_EQ(first.failures, 1);
  EXPECT_FALSE(first.failed);
  EXPECT_FALSE(alert_due(first, config()));
  EXPECT_EQ(first.error, "target down");
  EXPECT_EQ(first.retry_in, 30s);

  access::RotationFailure second = after_failure(1, "target down", config());
  EXPECT_FALSE(second.failed);
  EXPECT_FALSE(alert_due(second, config()));

  access::RotationFailure third = after_failure(2, "target down", config());
  EXPECT_TRUE(third.failed);
  EXPECT_TRUE(alert_due(third, config()));
  EXPECT_EQ(third.retry_in, 120s);

  access::RotationFailure fourth = after_failure(3, "target down", config());
  EXPECT_TRUE(fourth.failed);
  EXPECT_FALSE(alert_due(fourth, config()));
}

// 32 characters of the alphabet, every class present, and two draws differ.
TEST(RotationPassword, IsLongRandomAndVaried) {
  const vault::Secret first = new_password();
  const vault::Secret second = new_password();
  ASSERT_EQ(first.reveal().size(), kPasswordLength);
  EXPECT_EQ(first.reveal().find_first_not_of(kPasswordAlphabet), std::string::npos);
  EXPECT_NE(first.reveal(), second.reveal());
  EXPECT_NE(first.reveal().find_first_of("0123456789"), std::string::npos);
  EXPECT_NE(first.reveal().find_first_of("-_.+="), std::string::npos);
}

}  // namespace
}  // namespace portcullis::rotation
