#include "proxy/gateway_metrics.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "access/access.h"

namespace portcullis::proxy {
namespace {

std::optional<metrics::Sink> sink_named(const std::string& channel) {
  if (channel == "webhook") return metrics::Sink::webhook;
  if (channel == "command") return metrics::Sink::command;
  if (channel == "syslog") return metrics::Sink::syslog;
  return std::nullopt;
}

}  // namespace

GatewayMetrics::GatewayMetrics(EventLoops& loops, const Config& config, metrics::Metrics& metrics,
                               Sources sources)
    : config_(config),
      metrics_(metrics),
      sources_(sources),
      pool_(loops.main(), config.database.url, 1),
      lag_(loops.main(), kTick,
           [this](LoopLag::Clock::duration lag) {
             metrics_.loop_lag(lag);
             sample();
           }),
      count_timer_(loops.main()) {
  for (std::size_t i = 1; i < loops.size(); ++i) {
    other_lags_.push_back(
        {&loops.at(i),
         std::make_unique<LoopLag>(loops.at(i), kTick, [this](LoopLag::Clock::duration lag) {
           metrics_.loop_lag(lag);
         })});
  }
}

void GatewayMetrics::start() {
  metrics_.serve(config_.metrics);
  stopped_ = false;
  sample();
  lag_.start();
  for (const OtherLag& other : other_lags_) {
    boost::asio::post(*other.loop, [lag = other.lag.get()] { lag->start(); });
  }
  arm_grant_count(std::chrono::steady_clock::duration::zero());
}

void GatewayMetrics::stop() {
  stopped_ = true;
  lag_.stop();
  for (const OtherLag& other : other_lags_) {
    boost::asio::post(*other.loop, [lag = other.lag.get()] { lag->stop(); });
  }
  count_timer_.cancel();
}

void GatewayMetrics::sample() {
  metrics::Sample sample;
  for (const alerts::DeliveryCounts& channel : sources_.alerts.counts()) {
    const std::optional<metrics::Sink> sink = sink_named(channel.channel);
    if (!sink) continue;
    sample.sinks[static_cast<std::size_t>(*sink)] =
        metrics::Sample::SinkCounts{channel.alerts_sent, channel.alerts_failed,
                                    channel.audit_rows_sent, channel.audit_rows_failed};
  }
  const recorder::RecordingStats recordings = sources_.recordings.stats();
  sample.recording_raw_bytes = recordings.raw_bytes;
  sample.recording_stored_bytes = recordings.stored_bytes;
  sample.spool_backlog_files = recordings.shipping.backlog_files;
  sample.spool_backlog_bytes = recordings.shipping.backlog_bytes;
  sample.live_queue_bytes = recordings.shipping.live_queue_bytes;
  sample.shipping_lag_seconds = std::chrono::duration<double>(recordings.shipping.lag).count();
  const auto pool = [](metrics::Pool p) { return static_cast<std::size_t>(p); };
  const std::pair<metrics::Pool, const WorkerPool*> pools[] = {
      {metrics::Pool::workers, &sources_.workers},
      {metrics::Pool::upstreams, &sources_.upstreams},
      {metrics::Pool::oversight, &sources_.oversight},
      {metrics::Pool::metrics, &pool_}};
  for (const auto& [which, worker_pool] : pools) {
    sample.database_errors[pool(which)] = worker_pool->failures();
    sample.queue_depth[pool(which)] = worker_pool->queued();
  }
  sample.database_errors[pool(metrics::Pool::journal)] = sources_.journal.failures();
  if (sources_.listener) {
    sample.database_errors[pool(metrics::Pool::listener)] = sources_.listener->failures();
  }
  for (std::size_t i = 0; i < metrics::kLimits; ++i) {
    sample.limit_hits[i] = sources_.limits.hits(metrics::name(static_cast<metrics::Limit>(i)));
  }
  metrics_.sampled(sample);
}

void GatewayMetrics::arm_grant_count(std::chrono::steady_clock::duration delay) {
  count_timer_.expires_after(delay);
  count_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    count_grants();
    arm_grant_count(kGrantCountInterval);
  });
}

// Only while someone can read the result: without [metrics] listen nothing is asked of the
// database. One count at a time; a count still running when the next is due skips that one.
void GatewayMetrics::count_grants() {
  if (counting_ || metrics_.serving().empty()) return;
  counting_ = true;
  pool_.transact([](pqxx::work& tx) { return access::tally_grants(tx); },
                 [this](Outcome<access::GrantTally> outcome) {
                   counting_ = false;
                   if (!outcome.ok()) {
                     // The timestamp gauge stays where it was: that is what an alert sees.
                     if (!outcome.database_unavailable) {
                       spdlog::warn("metrics: cannot count grants: {}", outcome.error);
                     }
                     return;
                   }
                   const access::GrantTally& tally = *outcome.value;
                   metrics_.grants_counted(
                       metrics::GrantCounts{tally.active, tally.scheduled, tally.pending_requests,
                                            tally.pending_extensions},
                       std::chrono::system_clock::now());
                 });
}

}  // namespace portcullis::proxy
