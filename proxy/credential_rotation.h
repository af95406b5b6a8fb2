// Rotation after use in the daemon: every [rotation] check_interval, a thread of its own looks
// for after-use accounts whose grants and sessions are over and rotates them one at a time
// (rotation/rotation.h; the database lets one node hold an account). A failure is retried with
// back-off; the one that reaches alert_after raises the `rotation_failed` alert.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>

#include "access/workflow.h"
#include "proxy/periodic_worker.h"
#include "rotation/rotation.h"
#include "settings/settings.h"
#include "vault/vault.h"

namespace portcullis::proxy {

class CredentialRotation {
 public:
  // Thread-safe: called on the rotation's thread.
  using RaiseAlert = std::function<void(const access::AlertEvent&)>;
  CredentialRotation(boost::asio::io_context& loop, const Config& config, const vault::Vault& vault,
                     RaiseAlert raise_alert);
  CredentialRotation(const CredentialRotation&) = delete;
  CredentialRotation& operator=(const CredentialRotation&) = delete;

  void start();  // on the loop
  void stop();   // on the loop: no further pass; then join() from the thread that ran the loop
  void join();

 private:
  void pass();  // on the rotation's own thread
  void report(const rotation::Report& report);

  rotation::Rotator rotator_;
  RaiseAlert raise_alert_;
  // Used on the worker's thread only; declared first, so it outlives the thread.
  store::Database database_;
  // SSH logins to targets that may be slow or down: never a login worker's thread or the loop.
  PeriodicWorker worker_;
};

}  // namespace portcullis::proxy
