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

}  // namespace

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
