// Public interface of the `proxy` library: the SSH gateway that `portcullisd` runs.
#pragma once

#include <memory>

#include "common/common.h"
#include "settings/running.h"

namespace portcullis::proxy {

class Gateway {
 public:
  // Loads the host key and opens the vault; throws std::runtime_error with a message fit
  // for the operator (which file, what is wrong, what to do) when either is unusable.
  // SIGHUP reloads `running`'s file (settings/running.h says what a reload may change).
  explicit Gateway(std::shared_ptr<const RunningConfig> running);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Listens and serves until SIGINT/SIGTERM or stop(). Live sessions are ended on the way out.
  void run();
  // Thread-safe.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace portcullis::proxy
