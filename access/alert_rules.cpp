#include "access/alert_rules.h"

#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <stdexcept>

#include "access/policy.h"
#include "common/common.h"

namespace portcullis {
namespace {

std::shared_ptr<const re2::RE2> compile_match(std::string_view text) {
  RE2::Options options;
  options.set_log_errors(false);
  auto pattern =
      std::make_shared<const re2::RE2>(re2::StringPiece(text.data(), text.size()), options);
  if (!pattern->ok()) {
    throw std::invalid_argument(
        "not a valid RE2 regular expression: " + one_line(pattern->error()) +
        " (RE2 has no backreferences or lookarounds; see docs/config.md)");
  }
  return pattern;
}

AlertAction parse_action(std::string_view text) {
  if (text == "alert") return AlertAction::alert;
  if (text == "terminate") return AlertAction::terminate;
  throw std::invalid_argument("\"" + std::string(text) +
                              "\" is not an action (expected alert or terminate)");
}

std::string parse_severity(std::string_view text) {
  constexpr std::array<std::string_view, 4> kSeverities = {"low", "medium", "high", "critical"};
  if (std::find(kSeverities.begin(), kSeverities.end(), text) == kSeverities.end()) {
    throw std::invalid_argument("\"" + std::string(text) +
                                "\" is not a severity (expected low, medium, high or critical)");
  }
  return std::string(text);
}

constexpr ConfigKey<AlertRule> kAlertRuleKeys[] = {
    {"name", [](const ConfigValue& v, AlertRule& r) { r.name = v.string(); }, true},
    {"targets", [](const ConfigValue& v, AlertRule& r) { r.targets = v.strings(); }, true},
    {"match", [](const ConfigValue& v, AlertRule& r) { r.match = v.parsed(compile_match); }, true},
    {"action", [](const ConfigValue& v, AlertRule& r) { r.action = v.parsed(parse_action); }},
    {"severity", [](const ConfigValue& v, AlertRule& r) { r.severity = v.parsed(parse_severity); }},
};

}  // namespace

std::string to_string(AlertAction action) {
  return action == AlertAction::terminate ? "terminate" : "alert";
}

bool AlertRule::watches(std::string_view target) const {
  return access::matches_any_glob(targets, target);
}

bool AlertRule::matches(std::string_view command_line) const {
  return re2::RE2::PartialMatch(re2::StringPiece(command_line.data(), command_line.size()), *match);
}

void declare_alert_rules(ConfigSchema& schema, std::vector<AlertRule>& rules) {
  schema.table_array("alert_rule", rules, kAlertRuleKeys);
}

}  // namespace portcullis
