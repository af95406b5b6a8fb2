// Rotation after use in the daemon: every [rotation] check_interval, a thread of its own looks
// for after-use accounts whose grants and sessions are over and rotates them one at a time
// (rotation/rotation.h; the database lets one node hold an account). A failure is retried with
// back-off; the one that reaches alert_after raises the `rotation_failed` alert.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <vector>

#include "access/workflow.h"
#include "proxy/worker_pool.h"
#include "rotation/rotation.h"
#include "settings/settings.h"
#include "vault/vault.h"

namespace portcullis::proxy {

class CredentialRotation {
 public:
  using RaiseAlert = std::function<void(const access::AlertEvent&)>;
  CredentialRotation(boost::asio::io_context& loop, const Config& config, const vault::Vault& vault,
                     RaiseAlert raise_alert);
  CredentialRotation(const CredentialRotation&) = delete;
  CredentialRotation& operator=(const CredentialRotation&) = delete;

  void start();  // on the loop
  void stop();   // on the loop: no further pass; then join() from the thread that ran the loop
  void join();

 private:
  void schedule();
  std::vector<rotation::Report> pass();  // on the rotation's own thread
  void report(const rotation::Report& report);

  const std::chrono::seconds interval_;
  rotation::Rotator rotator_;
  RaiseAlert raise_alert_;
  // Used on the pool's thread only; declared first, so it outlives the thread.
  store::Database database_;
  // SSH logins to targets that may be slow or down: a thread of its own, never a login
  // worker's or the loop's.
  WorkerPool pool_;
  boost::asio::steady_timer timer_;
  bool stopping_ = false;
};

}  // namespace portcullis::proxy
