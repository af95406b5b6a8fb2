// Public interface of the `alerts` library: sends security alerts (break-glass, MFA lockouts,
// host key mismatches, sensitive approvals) to the channels configured in [alerts] — a webhook,
// a command and syslog — without ever blocking the caller. The format is in docs/alerts.md.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "alerts/config.h"
#include "common/common.h"

namespace portcullis::alerts {

// Knobs the config file does not expose. The defaults are the daemon's; tests shorten them.
struct DispatcherOptions {
  // Pause after the first failed webhook attempt; doubled after each further failure.
  std::chrono::milliseconds retry_base{1000};
  std::chrono::milliseconds retry_cap{60'000};
  // A command still running after this is killed (SIGKILL, with everything it started).
  std::chrono::milliseconds command_timeout{30'000};
  // How long the destructor keeps delivering what is queued before dropping it.
  std::chrono::milliseconds shutdown_grace{5000};
  // Per channel; when full, the oldest alert is dropped.
  std::size_t queue_limit = 1000;
};

class ChannelWorker;

// What one channel did since the dispatcher started: alerts, and audit rows it streams, each
// delivered or not (given up on after its retries, failed, or dropped from a full queue or at
// shutdown). For portcullisd's metrics.
struct DeliveryCounts {
  std::string channel;  // "webhook", "command" or "syslog", as [alerts] names them
  std::uint64_t alerts_sent = 0;
  std::uint64_t alerts_failed = 0;
  std::uint64_t audit_rows_sent = 0;
  std::uint64_t audit_rows_failed = 0;
};

// Delivers every alert to each configured channel on a thread of its own per channel, so a
// webhook that hangs never delays the command or syslog. Thread-safe.
class Dispatcher {
 public:
  Dispatcher(const AlertsConfig& config, std::string node_name, DispatcherOptions options = {});
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;
  // Stops accepting alerts, keeps delivering what is queued for at most `shutdown_grace`, then
  // logs what it drops.
  ~Dispatcher();

  // Throws std::invalid_argument when [alerts] audit_stream names a channel that is not set up
  // (check_alerts_config).
  //
  // Queues one alert for every channel, logs one line about it (kind and id, not the fields) and
  // returns at once; safe from any thread, including an event loop. `kind` is e.g. "break_glass",
  // "mfa_lockout", "host_key_mismatch", "sensitive_approval"; `fields` (a JSON object, or null) is
  // merged into the alert's top level, where "kind", "at", "node" and "id" always keep the
  // dispatcher's values. Returns the alert's id, which is also what receivers can deduplicate on.
  std::string send(std::string_view kind, const nlohmann::json& fields);

  // Queues one audit row (kind "audit", the row under "audit") for the channels [alerts]
  // audit_stream names, and only those; no log line (the row is in the database).
  void stream_audit(const nlohmann::json& row);
  bool streams_audit() const;

  // Waits until every alert sent before the call has been delivered or given up on by every
  // channel; false if `timeout` ran out first.
  bool drain(std::chrono::milliseconds timeout);

  // False when [alerts] configures no channel at all: send() then only writes the log line.
  bool enabled() const;

  // A reload: when `config` differs from the running one, alerts sent from now on go to the
  // channels it sets up. Alerts already queued are still delivered by the old channels, for at
  // most shutdown_grace, on a thread of their own: the caller never waits for a webhook.
  // Throws std::invalid_argument as the constructor does, and then nothing changes.
  void reconfigure(const AlertsConfig& config);

  // One entry per channel configured now or before a reload (the counts of a channel a reload
  // replaced carry on under its name: a counter never goes back); any thread.
  std::vector<DeliveryCounts> counts() const;

 private:
  // Every channel's worker, and those that stream the audit log; replaced whole by a reload.
  struct Channels {
    std::vector<std::unique_ptr<ChannelWorker>> workers;
    std::vector<std::string> names;  // [alerts]'s name of each of workers
    std::vector<ChannelWorker*> audit;
  };
  static std::shared_ptr<Channels> open_channels(const AlertsConfig& config,
                                                 const DispatcherOptions& options);
  std::shared_ptr<Channels> channels() const;
  // Stops `old` on a thread of its own, joined by the destructor.
  void retire(std::shared_ptr<Channels> old);

  std::string node_;
  std::string id_prefix_;  // "<node>-<random per process>-", so ids stay unique across restarts
  std::atomic<std::uint64_t> sequence_{0};
  const DispatcherOptions options_;
  mutable std::mutex mutex_;  // guards the four below
  AlertsConfig config_;
  std::shared_ptr<Channels> channels_;
  // Channels a reload replaced: kept (stopped) until the end, so the counts never go back.
  std::vector<std::shared_ptr<Channels>> retired_;
  std::vector<std::thread> retiring_;
};

}  // namespace portcullis::alerts
