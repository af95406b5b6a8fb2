// What the dispatcher hands to its channels; private to the `alerts` folder.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "alerts/config.h"
#include "common/common.h"

namespace portcullis::alerts {

using Clock = std::chrono::steady_clock;

// One alert, formatted once and shared by every channel.
struct Alert {
  std::string kind;
  std::string id;
  std::string json;  // one line, no trailing newline
};

// Tells a delivery that takes a while (webhook retries, a running command) when it must stop
// because the dispatcher is shutting down and its grace period is over.
class Deadline {
 public:
  Clock::time_point at() const { return at_.load(); }
  bool passed() const { return Clock::now() >= at(); }
  void set(Clock::time_point at);

  // Sleeps for `pause`; returns false at once (or as soon as shutdown begins) when the deadline
  // falls inside the pause, since whatever was to follow could not happen any more.
  bool sleep(std::chrono::milliseconds pause) const;

 private:
  std::atomic<Clock::time_point> at_{Clock::time_point::max()};
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
};

// One way of delivering alerts. Each runs on its own thread, so deliver() may block, within
// its own time limits and the deadline. It reports failures in the log and never throws for
// them; it returns whether the alert was delivered (after any retries), for the counts.
class Channel {
 public:
  virtual ~Channel() = default;
  virtual std::string name() const = 0;  // for log lines, without secrets
  virtual bool deliver(const Alert& alert, const Deadline& deadline) = 0;
};

struct DispatcherOptions;

std::unique_ptr<Channel> make_webhook_channel(const AlertsConfig& config,
                                              const DispatcherOptions& options);
std::unique_ptr<Channel> make_command_channel(const AlertsConfig& config,
                                              const DispatcherOptions& options);
std::unique_ptr<Channel> make_syslog_channel();

// "2s" for whole seconds (the daemon's delays), "250ms" otherwise (tests).
std::string describe(std::chrono::milliseconds duration);

// The webhook URL as it may appear in logs: scheme://host:port/path, without the user, password,
// query or fragment that may carry a token.
std::string redact_url(const std::string& url);

}  // namespace portcullis::alerts
