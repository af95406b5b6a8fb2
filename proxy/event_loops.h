// The event loops that carry connections ([server] threads). Each runs on a thread of its own
// and a connection stays on the loop it was placed on for its whole life, so everything a session
// owns (its libssh sessions, timers, bridge and recording buffer) is only ever touched by one
// thread, exactly as with a single loop; what sessions share (pools, journal, limits, registry,
// recordings, metrics) is safe across threads. Loop 0 runs on the thread that calls run(); it
// also carries the gateway's own work (accepting, signals, status checks, reload).
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace portcullis::proxy {

// Runs `loop` until it runs out of work. A handler that throws past its own fault barrier is
// logged and the loop goes on serving everyone else (asio lets run() be called again).
void run_loop(boost::asio::io_context& loop);

// The loops [server] threads asks for: `configured`, or one per CPU this process may run on
// (its affinity mask, which taskset and cgroups' cpusets narrow) when it is 0.
int loop_count(int configured);

class EventLoops {
 public:
  explicit EventLoops(int count);  // at least 1
  ~EventLoops();
  EventLoops(const EventLoops&) = delete;
  EventLoops& operator=(const EventLoops&) = delete;

  std::size_t size() const { return loops_.size(); }
  boost::asio::io_context& main() { return *loops_.front()->context; }
  boost::asio::io_context& at(std::size_t index) { return *loops_.at(index)->context; }

  // A connection's place on a loop: the loop's count of connections, given back on destruction.
  class Placement {
   public:
    Placement() = default;
    Placement(Placement&& other) noexcept;
    Placement& operator=(Placement&& other) noexcept;
    Placement(const Placement&) = delete;
    Placement& operator=(const Placement&) = delete;
    ~Placement();
    std::size_t index() const { return index_; }

   private:
    friend class EventLoops;
    Placement(EventLoops* loops, std::size_t index) : loops_(loops), index_(index) {}
    EventLoops* loops_ = nullptr;
    std::size_t index_ = 0;
  };
  // The loop with the fewest connections now (the first of them on a tie). Any thread.
  Placement place();

  // Starts loops 1..N-1 on threads of their own, kept running while idle, then runs loop 0 on
  // this thread until it runs out of work; then lets the others end once their own work runs
  // out (release()) and joins them. Call once.
  void run();
  // From shutdown on: loops 1..N-1 may end once their work runs out. Any thread.
  void release();
  // After run() and once nothing can post any more (the pools are stopped): runs, on this
  // thread, what was posted to a loop after it had ended (a worker's last result), so nothing
  // is left to be destroyed with the loops after the parts it refers to.
  void run_leftovers();

 private:
  struct Loop {
    std::unique_ptr<boost::asio::io_context> context = std::make_unique<boost::asio::io_context>(1);
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard;
    std::size_t connections = 0;  // guarded by mutex_
  };
  std::mutex mutex_;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::vector<std::thread> threads_;
};

}  // namespace portcullis::proxy
