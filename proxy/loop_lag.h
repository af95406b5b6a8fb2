// How late the event loop runs: a timer armed for `interval` from now should fire then; what it
// is late by is time the loop spent on other handlers (a burst of work, or a handler that
// blocked). Every byte of every session waits for the loop, so this is the lag a user feels.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>

namespace portcullis::proxy {

class LoopLag {
 public:
  using Clock = std::chrono::steady_clock;
  // Called on the loop at each tick with how late it came (never negative).
  using Tick = std::function<void(Clock::duration lag)>;

  LoopLag(boost::asio::io_context& loop, Clock::duration interval, Tick tick);
  LoopLag(const LoopLag&) = delete;
  LoopLag& operator=(const LoopLag&) = delete;

  void start();  // on the loop, or before it runs
  void stop();   // on the loop: no further tick, and no work left for the loop

 private:
  void arm();

  const Clock::duration interval_;
  const Tick tick_;
  boost::asio::steady_timer timer_;
  Clock::time_point due_{};
  bool stopped_ = true;
};

}  // namespace portcullis::proxy
