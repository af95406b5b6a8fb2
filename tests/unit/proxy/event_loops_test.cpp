// EventLoops with real io_contexts and threads: connections go to the loop holding the fewest,
// work posted to a loop runs on that loop's own thread, idle loops keep running until released,
// and run() returns once every loop has run out of work.
#include "proxy/event_loops.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <set>
#include <thread>
#include <vector>

namespace portcullis::proxy {
namespace {

using namespace std::chrono_literals;

TEST(EventLoops, AConnectionGoesToTheLoopHoldingTheFewest) {
  EventLoops loops(3);
  ASSERT_EQ(loops.size(), 3u);
  std::vector<EventLoops::Placement> held;
  for (int i = 0; i < 6; ++i) held.push_back(loops.place());
  std::vector<int> per_loop(3, 0);
  for (const auto& placement : held) ++per_loop[placement.index()];
  EXPECT_EQ(per_loop, (std::vector<int>{2, 2, 2}));

  // Two connections of loop 1 end: the next two go there.
  for (int ended = 0; ended < 2; ++ended) {
    held.erase(std::find_if(held.begin(), held.end(),
                            [](const EventLoops::Placement& p) { return p.index() == 1; }));
  }
  const EventLoops::Placement next = loops.place();
  const EventLoops::Placement after = loops.place();
  EXPECT_EQ(next.index(), 1u);
  EXPECT_EQ(after.index(), 1u);
  EXPECT_EQ(loops.place().index(), 0u);  // all even again: a tie goes to the first
}

TEST(EventLoops, AMovedPlacementIsGivenBackOnce) {
  EventLoops loops(2);
  {
    EventLoops::Placement first = loops.place();
    EventLoops::Placement moved = std::move(first);
    EventLoops::Placement assigned;
    assigned = std::move(moved);
    EXPECT_EQ(assigned.index(), 0u);
  }
  // Given back exactly once: loop 0 is empty again, so it is chosen first (a tie goes to the
  // first), and then loop 1.
  const EventLoops::Placement a = loops.place();
  const EventLoops::Placement b = loops.place();
  EXPECT_EQ(a.index(), 0u);
  EXPECT_EQ(b.index(), 1u);
}

TEST(EventLoops, EachLoopRunsOnAThreadOfItsOwn) {
  EventLoops loops(3);
  std::vector<std::thread::id> ran_on(3);
  std::atomic<int> done{0};
  // Loop 0 has work until every loop has reported, then releases the others.
  boost::asio::steady_timer keep_main(loops.main(), 10s);
  keep_main.async_wait([](boost::system::error_code) {});
  for (std::size_t i = 0; i < 3; ++i) {
    boost::asio::post(loops.at(i), [&, i] {
      ran_on[i] = std::this_thread::get_id();
      if (++done == 3) boost::asio::post(loops.main(), [&] { keep_main.cancel(); });
    });
  }
  const auto started = std::chrono::steady_clock::now();
  loops.run();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  ASSERT_EQ(done.load(), 3);
  EXPECT_EQ(ran_on[0], std::this_thread::get_id());  // loop 0 is the caller's
  EXPECT_EQ(std::set<std::thread::id>(ran_on.begin(), ran_on.end()).size(), 3u);
}

TEST(EventLoops, AnIdleLoopKeepsRunningUntilReleased) {
  EventLoops loops(2);
  std::atomic<bool> late_work_ran{false};
  boost::asio::steady_timer main_timer(loops.main(), 300ms);
  // Loop 1 has no work at all at first; work posted to it 300 ms later must still run.
  main_timer.async_wait([&](boost::system::error_code) {
    boost::asio::post(loops.at(1), [&] {
      late_work_ran = true;
      loops.release();
    });
  });
  loops.run();
  EXPECT_TRUE(late_work_ran);
}

TEST(EventLoops, ZeroThreadsMeansOnePerCpuThisProcessMayUse) {
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  ASSERT_EQ(::sched_getaffinity(0, sizeof(cpus), &cpus), 0);
  EXPECT_EQ(loop_count(0), CPU_COUNT(&cpus));
  EXPECT_EQ(loop_count(3), 3);
  EXPECT_EQ(EventLoops(0).size(), 1u);  // never fewer than one
}

}  // namespace
}  // namespace portcullis::proxy
