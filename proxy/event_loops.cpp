#include "proxy/event_loops.h"

#include <pthread.h>
#include <sched.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>

#include "common/common.h"

namespace portcullis::proxy {

void run_loop(boost::asio::io_context& loop) {
  for (;;) {
    try {
      loop.run();
      return;
    } catch (const std::exception& e) {
      spdlog::error("an event-loop handler failed: {}; the daemon goes on",
                    inert_line(one_line(e.what())));
    } catch (...) {
      spdlog::error("an event-loop handler failed with an unknown exception; the daemon goes on");
    }
  }
}

int loop_count(int configured) {
  if (configured > 0) return configured;
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  if (::sched_getaffinity(0, sizeof(cpus), &cpus) == 0) return std::max(1, CPU_COUNT(&cpus));
  return static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
}

EventLoops::EventLoops(int count) {
  for (int i = 0; i < std::max(1, count); ++i) loops_.push_back(std::make_unique<Loop>());
}

EventLoops::~EventLoops() {
  release();
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

EventLoops::Placement::Placement(Placement&& other) noexcept
    : loops_(std::exchange(other.loops_, nullptr)), index_(other.index_) {}

EventLoops::Placement& EventLoops::Placement::operator=(Placement&& other) noexcept {
  if (this != &other) {
    Placement gone(std::move(*this));
    loops_ = std::exchange(other.loops_, nullptr);
    index_ = other.index_;
  }
  return *this;
}

EventLoops::Placement::~Placement() {
  if (loops_ == nullptr) return;
  std::lock_guard lock(loops_->mutex_);
  --loops_->loops_[index_]->connections;
}

EventLoops::Placement EventLoops::place() {
  std::lock_guard lock(mutex_);
  std::size_t best = 0;
  for (std::size_t i = 1; i < loops_.size(); ++i) {
    if (loops_[i]->connections < loops_[best]->connections) best = i;
  }
  ++loops_[best]->connections;
  return Placement(this, best);
}

void EventLoops::run() {
  {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 1; i < loops_.size(); ++i) {
      loops_[i]->guard.emplace(loops_[i]->context->get_executor());
    }
  }
  for (std::size_t i = 1; i < loops_.size(); ++i) {
    threads_.emplace_back([&context = *loops_[i]->context] { run_loop(context); });
    // So `top -H` and /proc/PID/task/*/comm tell the loops apart (at most 15 characters).
    const std::string name = "loop " + std::to_string(i);
    ::pthread_setname_np(threads_.back().native_handle(), name.c_str());
  }
  run_loop(main());
  release();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
}

void EventLoops::run_leftovers() {
  for (const auto& loop : loops_) {
    loop->context->restart();
    try {
      loop->context->poll();  // what is ready; a timer armed now is not waited for
    } catch (const std::exception& e) {
      spdlog::error("a handler failed at shutdown: {}", inert_line(one_line(e.what())));
    } catch (...) {
      spdlog::error("a handler failed at shutdown with an unknown exception");
    }
  }
}

void EventLoops::release() {
  std::lock_guard lock(mutex_);
  for (const auto& loop : loops_) loop->guard.reset();
}

}  // namespace portcullis::proxy
