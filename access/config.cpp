#include "access/config.h"

#include <stdexcept>
#include <string_view>

#include "common/common.h"

namespace portcullis {
namespace {

ApprovalMode parse_approval(std::string_view text) {
  if (text == "auto") return ApprovalMode::automatic;
  if (text == "single") return ApprovalMode::single;
  if (text == "dual") return ApprovalMode::dual;
  throw std::invalid_argument("\"" + std::string(text) +
                              "\" is not an approval mode (expected auto, single or dual)");
}

MfaStep parse_mfa_step(std::string_view text) {
  if (text == "request") return MfaStep::request;
  if (text == "approve") return MfaStep::approve;
  if (text == "connect") return MfaStep::connect;
  throw std::invalid_argument("\"" + std::string(text) +
                              "\" is not an MFA step (expected request, approve or connect)");
}

AuthMethod parse_auth_method(std::string_view text) {
  if (text == "key") return AuthMethod::key;
  if (text == "sso") return AuthMethod::sso;
  throw std::invalid_argument("\"" + std::string(text) +
                              "\" is not a sign-in method (expected key or sso)");
}

PolicyRule::EnforceHours parse_enforce_hours(std::string_view text) {
  if (text == "connect") return PolicyRule::EnforceHours::connect;
  if (text == "session") return PolicyRule::EnforceHours::session;
  throw std::invalid_argument("must be \"connect\" or \"session\"");
}

constexpr ConfigKey<AccessConfig> kAccessKeys[] = {
    {"approval_timeout",
     [](const ConfigValue& v, AccessConfig& a) { a.approval_timeout = v.parsed(parse_duration); }},
    {"warn_before",
     [](const ConfigValue& v, AccessConfig& a) { a.warn_before = v.parsed_list(parse_duration); }},
    {"totp_issuer", [](const ConfigValue& v, AccessConfig& a) { a.totp_issuer = v.string(); }},
};

constexpr ConfigKey<PolicyRule> kPolicyKeys[] = {
    {"name", [](const ConfigValue& v, PolicyRule& p) { p.name = v.string(); }, true},
    {"targets", [](const ConfigValue& v, PolicyRule& p) { p.targets = v.strings(); }, true},
    {"roles", [](const ConfigValue& v, PolicyRule& p) { p.roles = v.strings(); }},
    {"max_duration",
     [](const ConfigValue& v, PolicyRule& p) { p.max_duration = v.parsed(parse_duration); }},
    {"require_ticket", [](const ConfigValue& v, PolicyRule& p) { p.require_ticket = v.boolean(); }},
    {"ticket_pattern",
     [](const ConfigValue& v, PolicyRule& p) {
       p.ticket_pattern = v.string();
       p.ticket_pattern_line = v.line();
     }},
    {"hours",
     [](const ConfigValue& v, PolicyRule& p) {
       p.hours = v.string();
       p.hours_line = v.line();
     }},
    {"enforce_hours",
     [](const ConfigValue& v, PolicyRule& p) { p.enforce_hours = v.parsed(parse_enforce_hours); }},
    {"approval",
     [](const ConfigValue& v, PolicyRule& p) { p.approval = v.parsed(parse_approval); }},
    {"approver_roles", [](const ConfigValue& v, PolicyRule& p) { p.approver_roles = v.strings(); }},
    {"mfa", [](const ConfigValue& v, PolicyRule& p) { p.mfa = v.parsed_list(parse_mfa_step); }},
    {"break_glass", [](const ConfigValue& v, PolicyRule& p) { p.break_glass = v.boolean(); }},
    {"break_glass_max",
     [](const ConfigValue& v, PolicyRule& p) { p.break_glass_max = v.parsed(parse_duration); }},
    {"alert_on_approval",
     [](const ConfigValue& v, PolicyRule& p) { p.alert_on_approval = v.boolean(); }},
    {"record_input", [](const ConfigValue& v, PolicyRule& p) { p.record_input = v.boolean(); }},
    {"require_moderator",
     [](const ConfigValue& v, PolicyRule& p) { p.require_moderator = v.boolean(); }},
    {"auth", [](const ConfigValue& v, PolicyRule& p) { p.auth = v.parsed_list(parse_auth_method); }},
    {"source",
     [](const ConfigValue& v, PolicyRule& p) { p.source = v.parsed_list(parse_network_range); }},
    {"deny_source",
     [](const ConfigValue& v, PolicyRule& p) {
       p.deny_source = v.parsed_list(parse_network_range);
     }},
};

constexpr ConfigKey<OversightConfig> kOversightKeys[] = {
    {"watch_roles", [](const ConfigValue& v, OversightConfig& o) { o.watch_roles = v.strings(); }},
    {"join_roles", [](const ConfigValue& v, OversightConfig& o) { o.join_roles = v.strings(); }},
    {"kill_roles", [](const ConfigValue& v, OversightConfig& o) { o.kill_roles = v.strings(); }},
    {"announce", [](const ConfigValue& v, OversightConfig& o) { o.announce = v.boolean(); }},
};

}  // namespace

void declare_access_config(ConfigSchema& schema, AccessConfig& access,
                           std::vector<PolicyRule>& policies) {
  schema.table("access", access, kAccessKeys);
  schema.table_array("policy", policies, kPolicyKeys);
}

void declare_oversight_config(ConfigSchema& schema, OversightConfig& oversight) {
  schema.table("oversight", oversight, kOversightKeys);
}

}  // namespace portcullis
