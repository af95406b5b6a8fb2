#include "alerts/worker.h"

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <exception>
#include <string>
#include <utility>

namespace portcullis::alerts {
namespace {

// A command that exits without reading its stdin would otherwise kill the whole daemon with
// SIGPIPE when we write to it; blocked, the write fails with EPIPE instead.
void block_sigpipe() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

}  // namespace

ChannelWorker::ChannelWorker(std::unique_ptr<Channel> channel, std::size_t queue_limit)
    : channel_(std::move(channel)), queue_limit_(queue_limit), thread_([this] { run(); }) {}

ChannelWorker::~ChannelWorker() {
  stop(Clock::now());
  thread_.join();
}

void ChannelWorker::push(std::shared_ptr<const Alert> alert) {
  std::shared_ptr<const Alert> dropped;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    if (queue_.size() >= queue_limit_) {
      dropped = std::move(queue_.front());
      queue_.pop_front();
      ++handled_count_;
    }
    queue_.push_back(std::move(alert));
    ++pushed_count_;
  }
  wake_.notify_one();
  if (dropped) {
    count_outcome(*dropped, false);
    handled_.notify_all();
    spdlog::error("alert id={} kind={} dropped by {}: its queue is full ({} alerts)", dropped->id,
                  dropped->kind, channel_->name(), queue_limit_);
  }
}

bool ChannelWorker::drain(Clock::time_point until) {
  std::unique_lock lock(mutex_);
  const std::uint64_t target = pushed_count_;
  return handled_.wait_until(lock, until, [&] { return handled_count_ >= target; });
}

void ChannelWorker::stop(Clock::time_point give_up_at) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    deadline_.set(give_up_at);
  }
  wake_.notify_one();
}

void ChannelWorker::run() {
  block_sigpipe();
  for (;;) {
    std::unique_lock lock(mutex_);
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;
    if (deadline_.passed()) {
      drop_rest(lock);
      return;
    }
    const std::shared_ptr<const Alert> alert = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    deliver(*alert);
    count_handled(1);
  }
}

void ChannelWorker::deliver(const Alert& alert) {
  bool delivered = false;
  try {
    delivered = channel_->deliver(alert, deadline_);
  } catch (const std::exception& e) {
    // Only resource exhaustion gets here (no pipe, no process); the next alert may fare better.
    spdlog::error("alert id={} kind={} not delivered by {}: {}", alert.id, alert.kind,
                  channel_->name(), e.what());
  }
  count_outcome(alert, delivered);
}

void ChannelWorker::count_outcome(const Alert& alert, bool delivered) {
  // Audit rows streamed to a SIEM are counted apart, or their volume would hide failed alerts.
  const bool audit_row = alert.kind == "audit";
  std::atomic<std::uint64_t>& count = audit_row
                                          ? (delivered ? audit_rows_sent_ : audit_rows_failed_)
                                          : (delivered ? alerts_sent_ : alerts_failed_);
  count.fetch_add(1, std::memory_order_relaxed);
}

DeliveryCounts ChannelWorker::counts() const {
  DeliveryCounts counts;
  counts.alerts_sent = alerts_sent_.load(std::memory_order_relaxed);
  counts.alerts_failed = alerts_failed_.load(std::memory_order_relaxed);
  counts.audit_rows_sent = audit_rows_sent_.load(std::memory_order_relaxed);
  counts.audit_rows_failed = audit_rows_failed_.load(std::memory_order_relaxed);
  return counts;
}

void ChannelWorker::drop_rest(std::unique_lock<std::mutex>& lock) {
  std::string ids;
  for (const auto& alert : queue_) {
    ids += (ids.empty() ? "" : ",") + alert->id;
    count_outcome(*alert, false);
  }
  const std::size_t count = queue_.size();
  queue_.clear();
  lock.unlock();
  spdlog::error("alerts: {} shut down with {} undelivered alert(s), dropped: {}", channel_->name(),
                count, ids);
  count_handled(count);
}

void ChannelWorker::count_handled(std::uint64_t n) {
  {
    std::lock_guard lock(mutex_);
    handled_count_ += n;
  }
  handled_.notify_all();
}

}  // namespace portcullis::alerts
