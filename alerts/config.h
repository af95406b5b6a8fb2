// [alerts]: where alerts go (webhook, command, syslog) and which of them also get the audit
// stream.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/config.h"

namespace portcullis {

struct AlertsConfig {
  std::string webhook;  // http(s) URL that receives each alert as a JSON POST; "" = none
  std::string command;  // run by /bin/sh -c with the alert JSON on stdin; "" = none
  bool syslog = false;  // also log each alert to syslog (LOG_AUTHPRIV, warning)
  // Channels ("syslog", "webhook", "command") that also get every audit row as it is written,
  // with its hash, so a SIEM holds a copy the database's superuser cannot reach.
  std::vector<std::string> audit_stream;
  int webhook_attempts = 6;                  // first try + retries, with doubling backoff
  std::chrono::seconds webhook_timeout{10};  // per attempt
  bool operator==(const AlertsConfig&) const = default;
};

void declare_alerts_config(ConfigSchema& schema, AlertsConfig& alerts);
// What the table's keys cannot check one by one: every channel audit_stream names is set up.
// Throws std::invalid_argument saying what to change.
void check_alerts_config(const AlertsConfig& alerts);

}  // namespace portcullis
