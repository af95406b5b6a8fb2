// [access] (request handling and TOTP) and [[policy]] (the rules, as written; access::Policy
// compiles them).
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "access/network.h"
#include "common/config.h"

namespace portcullis {

struct AccessConfig {
  std::chrono::seconds approval_timeout{24 * 3600};  // pending requests expire after this
  std::vector<std::chrono::seconds> warn_before{std::chrono::seconds(300),
                                                std::chrono::seconds(60)};
  std::string totp_issuer = "Portcullis";  // shown by authenticator apps
};

enum class ApprovalMode { automatic, single, dual };
enum class MfaStep { request, approve, connect };
// How a person proved who they are on a connection: an SSH key, or the OpenID provider.
enum class AuthMethod { key, sso };

// One [[policy]] table as written. Patterns, hours and time zones are checked when the policy
// is compiled (access::Policy), which reports problems with `line`.
struct PolicyRule {
  std::size_t line = 0;  // where the [[policy]] header is
  std::string name;
  std::vector<std::string> targets;  // globs on target names ('*', '?', '[...]')
  std::vector<std::string> roles;    // requester must hold one; empty = anyone
  std::chrono::seconds max_duration{3600};
  bool require_ticket = false;
  std::string ticket_pattern;  // ECMAScript regex the whole ticket must match; "" = any
  std::size_t ticket_pattern_line = 0;
  std::string hours;  // "Mon-Fri 08:00-18:00 Europe/Paris"; "" = any time
  std::size_t hours_line = 0;
  // Whether the hours bound only connecting, or also end live sessions when they end.
  enum class EnforceHours { connect, session };
  EnforceHours enforce_hours = EnforceHours::session;
  ApprovalMode approval = ApprovalMode::single;
  std::vector<std::string> approver_roles;
  std::vector<MfaStep> mfa;
  bool break_glass = false;
  std::chrono::seconds break_glass_max{3600};
  bool alert_on_approval = false;    // approvals under this rule raise an alert
  std::optional<bool> record_input;  // overrides [recording] record_input
  // Sessions under this rule reach the target only while someone with a role in [oversight]
  // join_roles has joined them (`join`); without one, the user's input is paused.
  bool require_moderator = false;
  // Each must have been used on the connection that requests, approves or connects under this
  // rule; empty = a key or SSO, either.
  std::vector<AuthMethod> auth;
  // Where requests, approvals and connections under this rule may come from (empty = anywhere)
  // and where never (deny_source wins).
  std::vector<NetworkRange> source;
  std::vector<NetworkRange> deny_source;
};

// [oversight]: who may watch, join and end other people's running sessions.
struct OversightConfig {
  std::vector<std::string> watch_roles{"auditor", "admin"};  // `watch`, `sessions`
  std::vector<std::string> join_roles{"admin"};              // `join`: type into the session
  std::vector<std::string> kill_roles{"auditor", "admin"};   // `kill` over ssh
  bool announce = true;  // the watched user is told who watches and when they leave
};

// [access], and [[policy]] into `policies` in file order (first match wins).
void declare_access_config(ConfigSchema& schema, AccessConfig& access,
                           std::vector<PolicyRule>& policies);
void declare_oversight_config(ConfigSchema& schema, OversightConfig& oversight);

}  // namespace portcullis
