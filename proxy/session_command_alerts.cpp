// What a command that an [[alert_rule]] matches does to its session: an alert through the
// usual sinks, an audit row, a marker in the recording and, for action "terminate", the end of
// the session with a notice that names the rule.
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "proxy/command_alerts.h"
#include "proxy/session.h"
#include "proxy/session_internal.h"

namespace portcullis::proxy {
namespace {

// What the alert and the audit row say: who, where, under which grant, which rule, the
// command, and how to see it.
nlohmann::json match_fields(std::int64_t session, std::int64_t grant, const std::string& user,
                            const std::string& target, const std::string& login,
                            const std::string& reason, const CommandMatch& match) {
  // "offset", not "at": an alert's "at" is when it was raised.
  const std::string offset = player::format_offset(match.at_us);
  return {{"session", session},
          {"user", user},
          {"target", target},
          {"login", login},
          {"grant", grant},
          {"reason", reason},
          {"rule", match.rule->name},
          {"severity", match.rule->severity},
          {"action", to_string(match.rule->action)},
          {"command", escape_invalid_utf8(match.command)},
          {"offset", offset},
          {"play", "portcullis play " + std::to_string(session) + " --at " + offset}};
}

}  // namespace

void Session::watch_commands(const access::Admission& admission) {
  std::vector<AlertRule> rules =
      rules_watching(context_.live.current()->config.alert_rules, target_);
  if (rules.empty()) return;
  const int cols = setup_.pty ? setup_.pty->cols : 0;
  const int rows = setup_.pty ? setup_.pty->rows : 0;
  observers_.add(std::make_shared<CommandAlerts>(
      std::move(rules), cols, rows,
      [weak = weak_from_this(), reason = admission.grant.reason](const CommandMatch& match) {
        if (auto self = weak.lock()) self->on_command_match(match, reason);
      }));
}

void Session::on_command_match(const CommandMatch& match, const std::string& reason) {
  const AlertRule& rule = *match.rule;
  spdlog::warn("session={} user={} target={} alert_rule={} severity={} command matched: {}",
               record_id_, user_, target_, rule.name, rule.severity, inert_line(match.command));
  const nlohmann::json fields =
      match_fields(record_id_, grant_id_, user_, target_, login_, reason, match);
  audit_later(context_.journal, "portcullisd:" + context_.config.server.node_name,
              "session.command_matched", "session:" + std::to_string(record_id_), fields);
  context_.raise_alert(access::AlertEvent{"command_alert", fields.dump()});
  record_marker(command_marker(match));
  if (rule.action != AlertAction::terminate) return;
  // The match comes while the bridge publishes bytes to the observers: ending the session
  // there would take the observers away under it.
  boost::asio::post(context_.loop, [weak = weak_from_this(), name = rule.name] {
    if (auto self = weak.lock()) {
      self->terminate(access::EndReason::killed, "the command matched alert rule \"" +
                                                     inert_line(name) + "\"; session closed");
    }
  });
}

}  // namespace portcullis::proxy
