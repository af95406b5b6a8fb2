// The database's clock as seen from this node. Grants start, end and are revoked by the
// database's clock (every node agrees on it); a node whose own clock is off by minutes must
// still end a session within a second of its grant's end, so every deadline the daemon arms
// is measured against this, not against the local clock.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <utility>

#include "access/access.h"

namespace portcullis::proxy {

class DatabaseClock {
 public:
  // This node's own time: the system clock, or a test's.
  using LocalTime = std::function<access::TimePoint()>;

  DatabaseClock() = default;
  explicit DatabaseClock(LocalTime local_time) : local_time_(std::move(local_time)) {}

  // Now, by the database's clock (the local clock until the first observe()).
  access::TimePoint now() const { return local_time_() + offset(); }

  // How long until `when` (by the database's clock) from now, for a steady timer.
  std::chrono::steady_clock::duration until(access::TimePoint when) const {
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(when - now());
  }

  // Any thread. `database_now` was read between the local times `sent` and `received`: it is
  // taken to belong to their midpoint.
  void observe(access::TimePoint database_now, access::TimePoint sent, access::TimePoint received) {
    const access::TimePoint midpoint = sent + (received - sent) / 2;
    offset_micros_.store(
        std::chrono::duration_cast<std::chrono::microseconds>(database_now - midpoint).count(),
        std::memory_order_relaxed);
  }

  std::chrono::microseconds offset() const {
    return std::chrono::microseconds(offset_micros_.load(std::memory_order_relaxed));
  }

 private:
  LocalTime local_time_ = [] { return access::Clock::now(); };
  std::atomic<long long> offset_micros_{0};
};

}  // namespace portcullis::proxy
