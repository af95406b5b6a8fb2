// The config a daemon runs with, and what a reload (SIGHUP) may change of it. A file is loaded
// and checked here as a whole, the [[policy]] rules compiled and [alerts] checked, so the
// daemon's start, its reload and `portcullis policy check` accept exactly the same files.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "access/policy.h"
#include "settings/settings.h"

namespace portcullis {

// Never changed once made: a reload makes a new one, so whoever holds one (a session, a job on
// a worker thread) reads one consistent file to the end.
struct RunningConfig {
  explicit RunningConfig(Config loaded);

  Config config;
  access::Policy policy;  // config.policies compiled
};

// Throws ConfigError ("FILE:LINE: what is wrong", or "FILE: what is wrong").
std::shared_ptr<const RunningConfig> load_running_config(const std::filesystem::path& file);

// What reloading `loaded` over `running` gives: the sections a reload may change come from
// `loaded` ([[policy]], [[alert_rule]], [access], [alerts], [oversight], [log], [metrics] and
// [server]'s limits); every other setting keeps its running value until a restart, and
// `needs_restart` names those that differ ("[database]", "[server] listen", ...).
struct ReloadPlan {
  std::shared_ptr<const RunningConfig> next;
  std::vector<std::string> needs_restart;
};
ReloadPlan plan_reload(const RunningConfig& running, const Config& loaded);

// The running config, replaced whole by a reload. Thread-safe.
class LiveConfig {
 public:
  explicit LiveConfig(std::shared_ptr<const RunningConfig> initial)
      : current_(std::move(initial)) {}
  std::shared_ptr<const RunningConfig> current() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  void replace(std::shared_ptr<const RunningConfig> next) {
    std::lock_guard lock(mutex_);
    current_ = std::move(next);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const RunningConfig> current_;
};

}  // namespace portcullis
