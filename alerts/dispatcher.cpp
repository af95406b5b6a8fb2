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
      shutdown_grace_(options.shutdown_grace) {
  // Syslog and the command first: they are quick and must not wait behind a webhook's retries,
  // which their separate threads already guarantee; the order only shapes the startup log line.
  std::vector<std::pair<std::string, std::unique_ptr<Channel>>> channels;  // by config name
  if (config.syslog) channels.emplace_back("syslog", make_syslog_channel());
  if (!config.command.empty())
    channels.emplace_back("command", make_command_channel(config, options));
  if (!config.webhook.empty())
    channels.emplace_back("webhook", make_webhook_channel(config, options));
  for (const std::string& wanted : config.audit_stream) {
    if (std::none_of(channels.begin(), channels.end(),
                     [&](const auto& channel) { return channel.first == wanted; })) {
      throw std::invalid_argument("[alerts] audit_stream names " + wanted + ", but [alerts] " +
                                  wanted + " is not set; set it or leave " + wanted +
                                  " out of audit_stream");
    }
  }
  std::string names;
  for (auto& [config_name, channel] : channels) {
    const bool streams = std::find(config.audit_stream.begin(), config.audit_stream.end(),
                                   config_name) != config.audit_stream.end();
    names +=
        (names.empty() ? "" : ", ") + channel->name() + (streams ? " (with the audit log)" : "");
    workers_.push_back(std::make_unique<ChannelWorker>(std::move(channel), options.queue_limit));
    channel_names_.push_back(config_name);
    if (streams) audit_workers_.push_back(workers_.back().get());
  }
  spdlog::info("alerts: {}", names.empty() ? "no channel configured" : "sent to " + names);
}

Dispatcher::~Dispatcher() {
  const Clock::time_point give_up_at = Clock::now() + shutdown_grace_;
  for (auto& worker : workers_) worker->stop(give_up_at);
  workers_.clear();
}

std::string Dispatcher::send(std::string_view kind, const nlohmann::json& fields) {
  auto alert = std::make_shared<Alert>();
  alert->kind = kind;
  alert->id = id_prefix_ + std::to_string(++sequence_);
  alert->json = format_alert(*alert, node_, fields);
  spdlog::info("alert id={} kind={} raised", alert->id, alert->kind);
  const std::shared_ptr<const Alert> shared = std::move(alert);
  for (auto& worker : workers_) worker->push(shared);
  return shared->id;
}

void Dispatcher::stream_audit(const nlohmann::json& row) {
  auto alert = std::make_shared<Alert>();
  alert->kind = "audit";
  alert->id = id_prefix_ + std::to_string(++sequence_);
  alert->json = format_alert(*alert, node_, nlohmann::json{{"audit", row}});
  const std::shared_ptr<const Alert> shared = std::move(alert);
  for (ChannelWorker* worker : audit_workers_) worker->push(shared);
}

std::vector<DeliveryCounts> Dispatcher::counts() const {
  std::vector<DeliveryCounts> counts;
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    DeliveryCounts channel = workers_[i]->counts();
    channel.channel = channel_names_[i];
    counts.push_back(std::move(channel));
  }
  return counts;
}

bool Dispatcher::drain(std::chrono::milliseconds timeout) {
  const Clock::time_point until = Clock::now() + timeout;
  bool drained = true;
  for (auto& worker : workers_) drained = worker->drain(until) && drained;
  return drained;
}

}  // namespace portcullis::alerts
