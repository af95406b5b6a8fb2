// ConnectionLimits (proxy/connection_limits.h) on its own: MaxStartups' probabilities, the cap
// per source, slots returned when a connection authenticates or ends, the back-off of an address
// whose logins fail, and reports at most once per source and limit.
#include "proxy/connection_limits.h"

#include <gtest/gtest.h>

#include <vector>

namespace portcullis::proxy {
namespace {

struct Recorder {
  std::vector<LimitHit> hits;
  ConnectionLimits::Report report() {
    return [this](const LimitHit& hit) { hits.push_back(hit); };
  }
};

ServerConfig server(int start, int rate, int full, int per_source) {
  ServerConfig config;
  config.max_startups = {start, rate, full};
  config.per_source_max_startups = per_source;
  return config;
}

TEST(ConnectionLimits, PerSourceCapAndSlotsComeBack) {
  Recorder recorder;
  ConnectionLimits limits(server(100, 30, 100, 2), recorder.report());
  auto first = limits.admit("10.0.0.1");
  auto second = limits.admit("10.0.0.1");
  ASSERT_TRUE(first.admitted && second.admitted);
  EXPECT_FALSE(limits.admit("10.0.0.1").admitted);
  EXPECT_FALSE(limits.admit("10.0.0.1").admitted);
  EXPECT_TRUE(limits.admit("10.0.0.2").admitted) << "another address is not capped";
  EXPECT_EQ(limits.hits("per_source_max_startups"), 2u);
  ASSERT_EQ(recorder.hits.size(), 1u) << "reported once a minute per source and limit";
  EXPECT_EQ(recorder.hits[0].source, "10.0.0.1");
  first.slot.release();  // authenticated
  EXPECT_TRUE(limits.admit("10.0.0.1").admitted);
  // Only `second` still holds a slot: released slots, dropped verdicts and verdicts gone out of
  // scope (the connection ended) hold nothing.
  EXPECT_EQ(limits.unauthenticated(), 1u);
}

TEST(ConnectionLimits, MaxStartupsDropsWithRisingProbability) {
  Recorder recorder;
  ConnectionLimits limits(server(10, 30, 20, 1000), recorder.report());
  std::vector<ConnectionLimits::Verdict> held;
  for (int i = 0; i < 10; ++i) {
    held.push_back(limits.admit("10.0.0.1"));
    ASSERT_TRUE(held.back().admitted) << "below START nothing is dropped";
  }
  // At START the drop probability is RATE (30%): over many tries about 30% are dropped.
  int dropped = 0;
  for (int i = 0; i < 2000; ++i) {
    auto verdict = limits.admit("10.0.0.1");
    if (!verdict.admitted) ++dropped;
  }
  EXPECT_GT(dropped, 450);
  EXPECT_LT(dropped, 750);
  while (held.size() < 20) {
    auto verdict = limits.admit("10.0.0.1");
    if (verdict.admitted) held.push_back(std::move(verdict));
  }
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(limits.admit("10.0.0.1").admitted) << "at FULL";
}

TEST(ConnectionLimits, FailedLoginsDelayOnlyTheirAddressAndSuccessForgives) {
  Recorder recorder;
  ConnectionLimits limits(server(100, 30, 100, 100), recorder.report());
  EXPECT_EQ(limits.admit("10.0.0.9").delay.count(), 0);
  for (int i = 0; i < 3; ++i) limits.login_failed("10.0.0.9");
  const auto delayed = limits.admit("10.0.0.9");
  EXPECT_TRUE(delayed.admitted);
  EXPECT_GT(delayed.delay, std::chrono::milliseconds(900));  // 250 ms doubled twice
  EXPECT_LE(delayed.delay, std::chrono::milliseconds(1000));
  EXPECT_EQ(limits.admit("10.0.0.8").delay.count(), 0) << "another address is not slowed";
  for (int i = 0; i < 1000; ++i) limits.login_failed("10.0.0.9");
  EXPECT_LE(limits.admit("10.0.0.9").delay, ConnectionLimits::kLongestBackOff);
  limits.login_succeeded("10.0.0.9");
  EXPECT_EQ(limits.admit("10.0.0.9").delay.count(), 0);
}

TEST(ConnectionLimits, BackOffCanBeTurnedOff) {
  Recorder recorder;
  ServerConfig config = server(100, 30, 100, 100);
  config.auth_back_off = false;
  ConnectionLimits limits(config, recorder.report());
  for (int i = 0; i < 10; ++i) limits.login_failed("10.0.0.9");
  EXPECT_EQ(limits.admit("10.0.0.9").delay.count(), 0);
}

}  // namespace
}  // namespace portcullis::proxy
