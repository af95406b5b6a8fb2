// ConnectionLimits (proxy/connection_limits.h) on its own: MaxStartups' probabilities, the cap
// per source, slots returned when a connection authenticates or ends, connections stalled in
// their handshake giving their place to newcomers, the back-off of an address whose logins fail,
// and reports at most once per source and limit.
#include "proxy/connection_limits.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "settings/settings.h"

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
  // Held by clients in the middle of authenticating: no newcomer can take their place.
  for (int i = 0; i < 10; ++i) {
    held.push_back(limits.admit("10.0.0.1"));
    ASSERT_TRUE(held.back().admitted) << "below START nothing is dropped";
    held.back().slot.key_exchanged();
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
    if (!verdict.admitted) continue;
    verdict.slot.key_exchanged();
    held.push_back(std::move(verdict));
  }
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(limits.admit("10.0.0.1").admitted) << "at FULL";
}

// A clock the test moves by hand.
struct FakeClock {
  ConnectionLimits::Clock::time_point at = ConnectionLimits::Clock::now();
  ConnectionLimits::Now now() {
    return [this] { return at; };
  }
};

using std::chrono::milliseconds;

// A connection that would be dropped at FULL takes the place of the oldest one stalled in its
// handshake: silent (no identification line) first, then still in key exchange after a second.
// Connections that finished key exchange keep their place.
TEST(ConnectionLimits, StalledHandshakesGiveTheirPlaceToNewcomers) {
  Recorder recorder;
  FakeClock clock;
  ConnectionLimits limits(server(3, 100, 3, 100), recorder.report(), clock.now());
  std::vector<std::string> evicted;
  auto admit = [&](const std::string& source) {
    ConnectionLimits::Verdict verdict = limits.admit(source);
    if (verdict.admitted)
      verdict.slot.on_eviction([&evicted, source] { evicted.push_back(source); });
    return verdict;
  };
  auto silent = admit("10.0.0.1");
  auto identified = admit("10.0.0.2");
  identified.slot.identified();
  auto exchanged = admit("10.0.0.3");
  exchanged.slot.identified();
  exchanged.slot.key_exchanged();
  ASSERT_TRUE(silent.admitted && identified.admitted && exchanged.admitted);

  auto first = admit("10.0.0.4");
  EXPECT_TRUE(first.admitted);
  EXPECT_EQ(evicted, std::vector<std::string>{"10.0.0.1"}) << "the silent one goes at once";
  EXPECT_EQ(limits.unauthenticated(), 3u);
  first.slot.identified();

  clock.at += milliseconds(300);
  EXPECT_FALSE(admit("10.0.0.9").admitted) << "the rest are in key exchange for under a second";

  clock.at += milliseconds(750);  // 1.05 s after the identified one was accepted
  auto second = admit("10.0.0.5");
  EXPECT_TRUE(second.admitted);
  EXPECT_EQ(evicted.back(), "10.0.0.2");
  second.slot.key_exchanged();

  clock.at += std::chrono::seconds(10);
  auto third = admit("10.0.0.6");
  EXPECT_TRUE(third.admitted);
  EXPECT_EQ(evicted.back(), "10.0.0.4") << "in key exchange for ten seconds";
  clock.at += std::chrono::seconds(10);
  // Left: `exchanged` and `second` (both authenticating) and `third`, silent for ten seconds.
  auto fourth = admit("10.0.0.7");
  EXPECT_TRUE(fourth.admitted);
  EXPECT_EQ(evicted.back(), "10.0.0.6");
  fourth.slot.key_exchanged();
  clock.at += std::chrono::seconds(10);
  EXPECT_FALSE(admit("10.0.0.9").admitted) << "everyone left has finished key exchange";

  // An evicted connection giving its place back later frees nothing more.
  silent.slot.release();
  EXPECT_EQ(limits.unauthenticated(), 3u);
  EXPECT_EQ(limits.hits("stalled_handshake"), 4u);
  EXPECT_EQ(limits.hits("max_startups"), 2u);
  const auto reported =
      std::find_if(recorder.hits.begin(), recorder.hits.end(),
                   [](const LimitHit& hit) { return hit.limit == "stalled_handshake"; });
  ASSERT_NE(reported, recorder.hits.end());
  EXPECT_EQ(reported->source, "10.0.0.1") << "the address that stalled is reported";
}

// A newcomer refused by its address's own cap costs nobody their place.
TEST(ConnectionLimits, NoEvictionForANewcomerOverItsSourceCap) {
  Recorder recorder;
  FakeClock clock;
  ConnectionLimits limits(server(2, 100, 2, 1), recorder.report(), clock.now());
  auto first = limits.admit("10.0.0.1");
  auto second = limits.admit("10.0.0.2");
  clock.at += std::chrono::seconds(5);
  EXPECT_FALSE(limits.admit("10.0.0.1").admitted);
  EXPECT_EQ(limits.hits("stalled_handshake"), 0u);
  EXPECT_EQ(limits.hits("per_source_max_startups"), 1u);
  EXPECT_TRUE(limits.admit("10.0.0.3").admitted) << "another address may evict";
  EXPECT_EQ(limits.hits("stalled_handshake"), 1u);
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
