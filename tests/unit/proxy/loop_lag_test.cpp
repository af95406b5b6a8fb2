// LoopLag on a real io_context: a handler that holds the loop shows up as the next tick's lag,
// ticks on an idle loop are on time, and stop() leaves the loop no work.
#include "proxy/loop_lag.h"

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <thread>
#include <vector>

namespace portcullis::proxy {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(LoopLag, AHandlerThatHoldsTheLoopIsTheNextTicksLag) {
  boost::asio::io_context loop;
  std::vector<Clock::duration> lags;
  LoopLag lag(loop, 50ms, [&](Clock::duration late) {
    lags.push_back(late);
    // After the second tick, a handler blocks the loop for 300 ms (a slow handler).
    if (lags.size() == 2) boost::asio::post(loop, [] { std::this_thread::sleep_for(300ms); });
    if (lags.size() == 6) lag.stop();
  });
  lag.start();
  const auto started = Clock::now();
  loop.run();  // returns once stop() left it no work
  EXPECT_LT(Clock::now() - started, 5s);
  ASSERT_EQ(lags.size(), 6u);
  // The third tick was due 50 ms after the second and ran only after the 300 ms handler.
  EXPECT_GE(lags[2], 240ms);
  EXPECT_LE(lags[2], 1s);
  // Armed from when the late tick ran, the next ones are on time again, not late by the same
  // 300 ms a second and third time. (Generous bounds: the machine may be busy.)
  for (std::size_t i : {0u, 1u, 3u, 4u, 5u}) EXPECT_LT(lags[i], 150ms) << "tick " << i;
}

TEST(LoopLag, NoTickAfterStop) {
  boost::asio::io_context loop;
  int ticks = 0;
  LoopLag lag(loop, 20ms, [&](Clock::duration) { ++ticks; });
  lag.start();
  loop.run_for(110ms);
  const int before = ticks;
  EXPECT_GE(before, 3);
  lag.stop();
  loop.restart();
  loop.run_for(100ms);
  EXPECT_EQ(ticks, before);
}

}  // namespace
}  // namespace portcullis::proxy
