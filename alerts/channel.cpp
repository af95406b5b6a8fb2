#include "alerts/channel.h"

#include <fmt/format.h>

namespace portcullis::alerts {

void Deadline::set(Clock::time_point at) {
  {
    std::lock_guard lock(mutex_);
    at_.store(at);
  }
  changed_.notify_all();
}

bool Deadline::sleep(std::chrono::milliseconds pause) const {
  const Clock::time_point wake = Clock::now() + pause;
  std::unique_lock lock(mutex_);
  return !changed_.wait_until(lock, wake, [&] { return at() <= wake; });
}

std::string describe(std::chrono::milliseconds duration) {
  if (duration.count() > 0 && duration.count() % 1000 == 0) {
    return format_duration(std::chrono::duration_cast<std::chrono::seconds>(duration));
  }
  return fmt::format("{}ms", duration.count());
}

}  // namespace portcullis::alerts
