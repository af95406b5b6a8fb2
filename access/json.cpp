#include "access/json.h"

#include "common/common.h"

namespace portcullis::access {
namespace {

nlohmann::json time_or_null(const std::optional<TimePoint>& at) {
  return at ? nlohmann::json(format_rfc3339(*at)) : nlohmann::json(nullptr);
}

nlohmann::json text_or_null(bool present, const std::string& text) {
  return present ? nlohmann::json(text) : nlohmann::json(nullptr);
}

template <typename T>
nlohmann::json value_or_null(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json();
}

// The session's certificate as stored, or null (also for a row that is not JSON, which only a
// hand-edited database holds).
nlohmann::json certificate_json(const SessionRow& s) {
  if (s.certificate_json.empty()) return nullptr;
  nlohmann::json parsed = nlohmann::json::parse(s.certificate_json, nullptr, false);
  return parsed.is_object() ? parsed : nlohmann::json();
}

}  // namespace

nlohmann::json session_json(const SessionRow& s, const std::string& state) {
  std::optional<std::string> reason;
  if (s.end_reason) reason = to_string(*s.end_reason);
  return {{"id", s.id},
          {"state", state},
          {"grant_id", s.grant_id},
          {"user", s.user},
          {"target", s.target},
          {"login", s.login},
          {"node", s.node},
          {"client", s.client},
          {"started_at", format_rfc3339(s.started_at)},
          {"ended_at", time_or_null(s.ended_at)},
          {"end_reason", value_or_null(reason)},
          {"exit_status", value_or_null(s.exit_status)},
          {"certificate", certificate_json(s)}};
}

Table session_table() {
  return Table({"ID", "GRANT", "USER", "TARGET", "LOGIN", "NODE", "CLIENT", "STARTED", "STATE",
                "ENDED", "END REASON", "EXIT"});
}

void add_session_row(Table& table, const SessionRow& s, const std::string& state) {
  table.add({std::to_string(s.id), std::to_string(s.grant_id), s.user, s.target, s.login, s.node,
             s.client, format_rfc3339(s.started_at), state,
             s.ended_at ? format_rfc3339(*s.ended_at) : "-",
             s.end_reason ? to_string(*s.end_reason) : "-",
             s.exit_status ? std::to_string(*s.exit_status) : "-"});
}

nlohmann::json grant_json(const Grant& g) {
  // A pending or denied request has no window yet.
  const auto window = [&g](TimePoint at) {
    return g.has_window() ? std::optional<TimePoint>(at) : std::nullopt;
  };
  const bool denied = g.state == GrantState::denied;
  return {{"id", g.id},
          {"user", g.user},
          {"target", g.target},
          {"login", g.login},
          {"reason", g.reason},
          {"ticket", g.ticket},
          {"state", to_string(g.state)},
          {"duration", format_duration(g.duration)},
          {"starts_at", time_or_null(window(g.starts_at))},
          {"expires_at", time_or_null(window(g.expires_at))},
          {"requested_at", format_rfc3339(g.requested_at)},
          {"created_by", g.created_by},
          {"policy", g.policy},
          {"approvals_needed", g.approvals_needed},
          {"approvals_given", g.approvals_given},
          {"pending_until", time_or_null(g.pending_until)},
          {"break_glass", g.break_glass},
          {"extends", g.extends ? nlohmann::json(*g.extends) : nlohmann::json(nullptr)},
          {"revoked_at", time_or_null(g.revoked_at)},
          {"revoke_reason", text_or_null(g.revoked_at.has_value(), g.revoke_reason)},
          {"denied_by", text_or_null(denied, g.denied_by)},
          {"deny_reason", text_or_null(denied, g.deny_reason)},
          {"review_required", g.review_required},
          {"reviewed_at", time_or_null(g.reviewed_at)},
          {"reviewed_by", text_or_null(g.reviewed_at.has_value(), g.reviewed_by)},
          {"review_note", text_or_null(g.reviewed_at.has_value(), g.review_note)}};
}

nlohmann::json audit_event_json(const AuditEvent& event) {
  // PostgreSQL printed the details from a jsonb column; kept as text should that ever fail.
  nlohmann::json details = nlohmann::json::parse(event.details_json, nullptr, false);
  if (details.is_discarded()) details = event.details_json;
  return {{"id", event.id},
          {"at", event.at},
          {"actor", event.actor},
          {"action", event.action},
          {"object", event.object},
          {"details", std::move(details)},
          {"hash", to_hex(event.hash)}};
}

}  // namespace portcullis::access
