// The newest rows of the audit log, which the hash chain alone cannot protect: someone who can
// write to the database could cut them off, or recompute the whole chain. Every few seconds
// while rows are written, this signs the chain's head with the node's key (a checkpoint that
// `portcullis audit verify` checks), and hands every new row to the alert channels [alerts]
// audit_stream names, so a copy lives where the database cannot reach.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <string>

#include "alerts/alerts.h"
#include "common/common.h"
#include "proxy/periodic_worker.h"
#include "recorder/keys.h"
#include "settings/settings.h"

namespace portcullis::proxy {

class AuditTail {
 public:
  AuditTail(boost::asio::io_context& loop, const Config& config, const recorder::SigningKey& key,
            alerts::Dispatcher& alerts);
  AuditTail(const AuditTail&) = delete;
  AuditTail& operator=(const AuditTail&) = delete;

  void start();  // on the loop
  void stop();   // on the loop: no further pass; then join() from the thread that ran the loop
  void join();

 private:
  void pass();        // on the tail's own thread
  void checkpoint();  // on the tail's own thread
  void stream();      // on the tail's own thread

  const recorder::SigningKey& key_;
  alerts::Dispatcher& alerts_;
  const std::string node_;
  const std::string key_fingerprint_;
  // A thread and a database connection of its own: a slow SIEM never delays a revocation.
  PeriodicWorker worker_;
  // The tail's own thread only.
  std::int64_t signed_up_to_ = 0;  // the newest row this run signed
  std::int64_t handed_over_ = 0;   // the newest row handed to the audit stream's channels
  std::chrono::steady_clock::time_point next_checkpoint_{};
};

}  // namespace portcullis::proxy
