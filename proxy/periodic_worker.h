// Blocking work repeated on a thread and database connection of its own: a pass every
// `interval`, never two at once, the next one timed from the end of the last, so a slow pass
// (a SIEM that is away, a target that does not answer) delays only itself, never a login or a
// revocation. The audit tail and credential rotation are two.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <string>

#include "proxy/worker_pool.h"

namespace portcullis::proxy {

class PeriodicWorker {
 public:
  // Runs on the worker's thread. An exception is logged with `name`; the next pass still comes.
  using Pass = std::function<void()>;

  PeriodicWorker(boost::asio::io_context& loop, std::string database_url, std::string name,
                 std::chrono::milliseconds interval);
  PeriodicWorker(const PeriodicWorker&) = delete;
  PeriodicWorker& operator=(const PeriodicWorker&) = delete;

  void start(Pass pass);  // on the loop
  void stop();            // on the loop: no further pass; then join() from the loop's thread
  void join();            // waits for a pass under way

  // For a pass's database work (transact_now), on the worker's thread.
  WorkerPool& pool() { return pool_; }

 private:
  void schedule();

  const std::string name_;
  const std::chrono::milliseconds interval_;
  Pass pass_;
  WorkerPool pool_;
  boost::asio::steady_timer timer_;
  bool stopping_ = false;
};

}  // namespace portcullis::proxy
