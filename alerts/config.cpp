#include "alerts/config.h"

#include <algorithm>
#include <stdexcept>
#include <string_view>

#include "common/common.h"

namespace portcullis {
namespace {

std::string check_webhook_url(std::string_view text) {
  if (!text.starts_with("http://") && !text.starts_with("https://")) {
    throw std::invalid_argument("must start with http:// or https://");
  }
  return std::string(text);
}

// "syslog", "webhook", "command" or several of them, comma-separated.
std::vector<std::string> check_audit_stream(std::string_view text) {
  std::vector<std::string> channels;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = text.find(',', start);
    std::string name(
        text.substr(start, comma == std::string_view::npos ? text.npos : comma - start));
    if (name != "syslog" && name != "webhook" && name != "command") {
      throw std::invalid_argument(
          "must name alert channels: \"syslog\", \"webhook\" or "
          "\"command\", or several separated by commas");
    }
    if (std::find(channels.begin(), channels.end(), name) == channels.end()) {
      channels.push_back(std::move(name));
    }
    if (comma == std::string_view::npos) return channels;
    start = comma + 1;
  }
}

constexpr ConfigKey<AlertsConfig> kAlertsKeys[] = {
    {"webhook",
     [](const ConfigValue& v, AlertsConfig& a) { a.webhook = v.parsed(check_webhook_url); }},
    {"command", [](const ConfigValue& v, AlertsConfig& a) { a.command = v.string(); }},
    {"syslog", [](const ConfigValue& v, AlertsConfig& a) { a.syslog = v.boolean(); }},
    {"audit_stream",
     [](const ConfigValue& v, AlertsConfig& a) { a.audit_stream = v.parsed(check_audit_stream); }},
    {"webhook_attempts",
     [](const ConfigValue& v, AlertsConfig& a) {
       a.webhook_attempts = static_cast<int>(v.integer(1, 20));
     }},
    {"webhook_timeout",
     [](const ConfigValue& v, AlertsConfig& a) { a.webhook_timeout = v.parsed(parse_duration); }},
};

}  // namespace

void declare_alerts_config(ConfigSchema& schema, AlertsConfig& alerts) {
  schema.table("alerts", alerts, kAlertsKeys);
}

void check_alerts_config(const AlertsConfig& alerts) {
  for (const std::string& wanted : alerts.audit_stream) {
    const bool set_up = (wanted == "syslog" && alerts.syslog) ||
                        (wanted == "command" && !alerts.command.empty()) ||
                        (wanted == "webhook" && !alerts.webhook.empty());
    if (!set_up) {
      throw std::invalid_argument("[alerts] audit_stream names " + wanted + ", but [alerts] " +
                                  wanted + " is not set; set it or leave " + wanted +
                                  " out of audit_stream");
    }
  }
}

}  // namespace portcullis
