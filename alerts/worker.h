// The queue and thread behind one channel; private to the `alerts` folder.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "alerts/alerts.h"
#include "alerts/channel.h"

namespace portcullis::alerts {

// Feeds one channel from a bounded queue on a thread of its own, so a slow channel only ever
// delays itself.
class ChannelWorker {
 public:
  ChannelWorker(std::unique_ptr<Channel> channel, std::size_t queue_limit);
  ChannelWorker(const ChannelWorker&) = delete;
  ChannelWorker& operator=(const ChannelWorker&) = delete;
  // Drops what is still queued, unless stop() was called first, then joins the thread.
  ~ChannelWorker();

  std::string name() const { return channel_->name(); }

  // Never blocks for longer than the lock; when the queue is full the oldest alert is dropped.
  void push(std::shared_ptr<const Alert> alert);

  // Waits until every alert pushed before the call has been delivered, given up on or dropped;
  // false if `until` came first.
  bool drain(Clock::time_point until);

  // Stops accepting alerts; the queued ones are still delivered until `give_up_at`, and
  // whatever is left then is dropped and logged. Only the first call counts.
  void stop(Clock::time_point give_up_at);

  // Delivered and not, alerts and audit rows apart (the channel's name left empty); any thread.
  DeliveryCounts counts() const;

 private:
  void run();
  void deliver(const Alert& alert);
  void drop_rest(std::unique_lock<std::mutex>& lock);
  void count_handled(std::uint64_t n);
  void count_outcome(const Alert& alert, bool delivered);

  std::unique_ptr<Channel> channel_;
  std::size_t queue_limit_;
  Deadline deadline_;
  std::mutex mutex_;
  std::condition_variable wake_;     // an alert arrived, or stop() was called
  std::condition_variable handled_;  // handled_count_ grew
  std::deque<std::shared_ptr<const Alert>> queue_;
  std::uint64_t pushed_count_ = 0;
  std::uint64_t handled_count_ = 0;
  bool stopping_ = false;
  // Read by the metrics while the thread writes them: alerts sent, failed; audit rows the same.
  std::atomic<std::uint64_t> alerts_sent_{0};
  std::atomic<std::uint64_t> alerts_failed_{0};
  std::atomic<std::uint64_t> audit_rows_sent_{0};
  std::atomic<std::uint64_t> audit_rows_failed_{0};
  std::thread thread_;  // last, so it starts once everything it uses exists
};

}  // namespace portcullis::alerts
