// The gateway's side of its Prometheus metrics (metrics/metrics.h): the endpoint served from
// [metrics] listen, the event loops' lag measured every 250 ms on each, what other parts count
// themselves (alerts, recordings, pools, the journal, the listener, connection limits) read at
// the same tick, and the grants counted in the database every 15 s. Sessions report their own
// events through GatewayContext::metrics. Loop thread only, but for the pool's own thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <optional>

#include "alerts/alerts.h"
#include "metrics/metrics.h"
#include "proxy/connection_limits.h"
#include "proxy/event_loops.h"
#include "proxy/journal.h"
#include "proxy/loop_lag.h"
#include "proxy/worker_pool.h"
#include "recorder/service.h"
#include "settings/settings.h"
#include "store/store.h"

namespace portcullis::proxy {

class GatewayMetrics {
 public:
  // What the samples are read from; all outlive this object.
  struct Sources {
    const WorkerPool& workers;
    const WorkerPool& upstreams;
    const WorkerPool& oversight;
    const Journal& journal;
    const std::optional<store::Listener>& listener;
    const alerts::Dispatcher& alerts;
    const recorder::RecordingService& recordings;
    const ConnectionLimits& limits;
  };

  static constexpr std::chrono::milliseconds kTick{250};
  static constexpr std::chrono::seconds kGrantCountInterval{15};

  GatewayMetrics(EventLoops& loops, const Config& config, metrics::Metrics& metrics,
                 Sources sources);
  GatewayMetrics(const GatewayMetrics&) = delete;
  GatewayMetrics& operator=(const GatewayMetrics&) = delete;

  // Serves [metrics] listen, throwing std::runtime_error (for the operator) when it cannot, and
  // starts the tick and the grant counts.
  void start();
  // No further tick or count: the loop can run out of work.
  void stop();

 private:
  void sample();
  void count_grants();
  void arm_grant_count(std::chrono::steady_clock::duration delay);

  const Config& config_;
  metrics::Metrics& metrics_;
  const Sources sources_;
  // A thread and a connection of its own, used only while the endpoint is served: a slow count
  // never delays a login or a revocation.
  WorkerPool pool_;
  LoopLag lag_;  // the main loop's, whose tick also samples
  // The other loops' lag, each started and stopped on its own loop.
  struct OtherLag {
    boost::asio::io_context* loop;
    std::unique_ptr<LoopLag> lag;
  };
  std::vector<OtherLag> other_lags_;
  boost::asio::steady_timer count_timer_;
  bool counting_ = false;
  bool stopped_ = true;
};

}  // namespace portcullis::proxy
