// [[alert_rule]]: command alert rules. Each names the targets it watches (globs, as in
// [[policy]]) and a regular expression over the command lines typed there (as the player reads
// them off the screen at Enter) and exec requests' command lines; a match raises an alert, and
// with action "terminate" also ends the session (proxy/command_alerts.h). The pattern is
// compiled as the file is read, so a bad one is a "FILE:LINE" error at load.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"

namespace re2 {
class RE2;
}

namespace portcullis {

enum class AlertAction { alert, terminate };
std::string to_string(AlertAction action);

struct AlertRule {
  std::size_t line = 0;  // where the [[alert_rule]] header is
  std::string name;
  std::vector<std::string> targets;  // globs on target names ('*', '?', '[...]')
  // RE2, searched anywhere in the line: linear in the line's length, so no command line can
  // make matching slow (std::regex can take exponential time on a hostile one).
  std::shared_ptr<const re2::RE2> match;
  AlertAction action = AlertAction::alert;
  std::string severity = "high";  // low, medium, high or critical

  bool watches(std::string_view target) const;
  bool matches(std::string_view command_line) const;
};

// [[alert_rule]] into `rules`, in file order.
void declare_alert_rules(ConfigSchema& schema, std::vector<AlertRule>& rules);

}  // namespace portcullis
