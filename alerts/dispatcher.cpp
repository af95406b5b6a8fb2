#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <utility>

#include "alerts/alerts.h"
#include "alerts/channel.h"
#include "alerts/worker.h"

namespace portcullis::alerts {
namespace {

// Random per process, so the ids of two runs of the same node never collide and a receiver
// can deduplicate on the id alone.
std::string random_tag() {
  std::random_device device;
  return fmt::format("{:08x}", device());
}

// The alert's own keys come first and always win over `fields`, so no detail can pass for
// another kind, time or node.
std::string format_alert(const Alert& alert, const std::string& node,
                         const nlohmann::json& fields) {
  nlohmann::ordered_json body{{"kind", alert.kind},
                              {"at", format_rfc3339(std::chrono::system_clock::now())},
                              {"node", node},
                              {"id", alert.id}};
  if (fields.is_object()) {
    for (const auto& [key, value] : fields.items()) {
      if (!body.contains(key)) body[key] = value;
    }
  } else if (!fields.is_null()) {
    body["details"] = fields;
  }
  // Replaces invalid UTF-8 (a user name from the wire, say) instead of losing the alert.
  return body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace

Dispatcher::Dispatcher(const AlertsConfig& config, std::string node_name, DispatcherOptions options)
    : node_(std::move(node_name)),
      id_prefix_(node_ + "-" + random_tag() + "-"),
      options_(options),
      config_(config),
      channels_(open_channels(config, options)) {}

std::shared_ptr<Dispatcher::Channels> Dispatcher::open_channels(const AlertsConfig& config,
                                                                const DispatcherOptions& options) {
  check_alerts_config(config);
  // Syslog and the command first: they are quick and must not wait behind a webhook's retries,
  // which their separate threads already guarantee; the order only shapes the startup log line.
  std::vector<std::pair<std::string, std::unique_ptr<Channel>>> opened;  // by config name
  if (config.syslog) opened.emplace_back("syslog", make_syslog_channel());
  if (!config.command.empty())
    opened.emplace_back("command", make_command_channel(config, options));
  if (!config.webhook.empty())
    opened.emplace_back("webhook", make_webhook_channel(config, options));
  auto channels = std::make_shared<Channels>();
  std::string names;
  for (auto& [config_name, channel] : opened) {
    const bool streams = std::find(config.audit_stream.begin(), config.audit_stream.end(),
                                   config_name) != config.audit_stream.end();
    names +=
        (names.empty() ? "" : ", ") + channel->name() + (streams ? " (with the audit log)" : "");
    channels->workers.push_back(
        std::make_unique<ChannelWorker>(std::move(channel), options.queue_limit));
    channels->names.push_back(config_name);
    if (streams) channels->audit.push_back(channels->workers.back().get());
  }
  spdlog::info("alerts: {}", names.empty() ? "no channel configured" : "sent to " + names);
  return channels;
}

Dispatcher::~Dispatcher() {
  const Clock::time_point give_up_at = Clock::now() + options_.shutdown_grace;
  std::shared_ptr<Channels> last = channels();
  for (auto& worker : last->workers) worker->stop(give_up_at);
  last.reset();
  std::lock_guard lock(mutex_);
  for (std::thread& thread : retiring_) thread.join();
  channels_.reset();
  retired_.clear();
}

std::shared_ptr<Dispatcher::Channels> Dispatcher::channels() const {
  std::lock_guard lock(mutex_);
  return channels_;
}

void Dispatcher::reconfigure(const AlertsConfig& config) {
  {
    std::lock_guard lock(mutex_);
    if (config == config_) return;
  }
  std::shared_ptr<Channels> fresh = open_channels(config, options_);
  std::shared_ptr<Channels> old;
  {
    std::lock_guard lock(mutex_);
    config_ = config;
    old = std::exchange(channels_, std::move(fresh));
  }
  retire(std::move(old));
}

void Dispatcher::retire(std::shared_ptr<Channels> old) {
  std::lock_guard lock(mutex_);
  retired_.push_back(old);
  retiring_.emplace_back([old = std::move(old), grace = options_.shutdown_grace] {
    const Clock::time_point give_up_at = Clock::now() + grace;
    for (auto& worker : old->workers) worker->stop(give_up_at);
  });
}

bool Dispatcher::streams_audit() const { return !channels()->audit.empty(); }

bool Dispatcher::enabled() const { return !channels()->workers.empty(); }

// Each loop below holds `current`: a reload may replace the channels while it runs.

std::string Dispatcher::send(std::string_view kind, const nlohmann::json& fields) {
  auto alert = std::make_shared<Alert>();
  alert->kind = kind;
  alert->id = id_prefix_ + std::to_string(++sequence_);
  alert->json = format_alert(*alert, node_, fields);
  spdlog::info("alert id={} kind={} raised", alert->id, alert->kind);
  const std::shared_ptr<const Alert> shared = std::move(alert);
  const std::shared_ptr<Channels> current = channels();
  for (auto& worker : current->workers) worker->push(shared);
  return shared->id;
}

void Dispatcher::stream_audit(const nlohmann::json& row) {
  auto alert = std::make_shared<Alert>();
  alert->kind = "audit";
  alert->id = id_prefix_ + std::to_string(++sequence_);
  alert->json = format_alert(*alert, node_, nlohmann::json{{"audit", row}});
  const std::shared_ptr<const Alert> shared = std::move(alert);
  const std::shared_ptr<Channels> current = channels();
  for (ChannelWorker* worker : current->audit) worker->push(shared);
}

std::vector<DeliveryCounts> Dispatcher::counts() const {
  std::vector<DeliveryCounts> counts;
  auto add = [&counts](const Channels& channels) {
    for (std::size_t i = 0; i < channels.workers.size(); ++i) {
      const DeliveryCounts more = channels.workers[i]->counts();
      auto same = std::find_if(counts.begin(), counts.end(), [&](const DeliveryCounts& c) {
        return c.channel == channels.names[i];
      });
      if (same == counts.end()) same = counts.insert(counts.end(), {channels.names[i]});
      same->alerts_sent += more.alerts_sent;
      same->alerts_failed += more.alerts_failed;
      same->audit_rows_sent += more.audit_rows_sent;
      same->audit_rows_failed += more.audit_rows_failed;
    }
  };
  std::lock_guard lock(mutex_);
  add(*channels_);
  for (const auto& old : retired_) add(*old);
  return counts;
}

bool Dispatcher::drain(std::chrono::milliseconds timeout) {
  const Clock::time_point until = Clock::now() + timeout;
  bool drained = true;
  const std::shared_ptr<Channels> current = channels();
  for (auto& worker : current->workers) drained = worker->drain(until) && drained;
  return drained;
}

}  // namespace portcullis::alerts
