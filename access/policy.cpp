#include "access/policy.h"

#include <re2/re2.h>

#include <algorithm>
#include <sstream>

namespace portcullis::access {
namespace {

bool holds_any(const std::vector<std::string>& held, const std::vector<std::string>& wanted) {
  return role_among(held, wanted).has_value();
}

ConfigError problem_at(const std::filesystem::path& file, std::size_t line,
                       const std::string& message) {
  return ConfigError(file.string() + ":" + std::to_string(line) + ": " + message);
}

CompiledRule compile(const std::filesystem::path& file, const PolicyRule& rule) {
  CompiledRule compiled{rule, nullptr, std::nullopt};
  const std::string where = "[[policy]] \"" + rule.name + "\"";
  if (!rule.ticket_pattern.empty()) {
    RE2::Options options;
    options.set_log_errors(false);
    auto pattern = std::make_shared<const re2::RE2>(rule.ticket_pattern, options);
    if (!pattern->ok()) {
      throw problem_at(file, rule.ticket_pattern_line,
                       "'ticket_pattern' in " + where +
                           " is not a valid RE2 regular expression: " + one_line(pattern->error()) +
                           " (RE2 has no backreferences or lookarounds; see docs/policy.md)");
    }
    compiled.ticket_pattern = std::move(pattern);
  }
  if (!rule.hours.empty()) {
    try {
      compiled.hours = parse_hours(rule.hours);
    } catch (const std::invalid_argument& e) {
      throw problem_at(file, rule.hours_line, "'hours' in " + where + ": " + e.what());
    }
  }
  if (rule.approval != ApprovalMode::automatic && rule.approver_roles.empty()) {
    throw problem_at(
        file, rule.line,
        where + " asks for " + to_string(rule.approval) + " approval but names no approver_roles");
  }
  return compiled;
}

}  // namespace

bool CompiledRule::ticket_matches(std::string_view ticket) const {
  return ticket_pattern == nullptr ||
         re2::RE2::FullMatch(re2::StringPiece(ticket.data(), ticket.size()), *ticket_pattern);
}

std::string to_string(ApprovalMode mode) {
  switch (mode) {
    case ApprovalMode::automatic:
      return "auto";
    case ApprovalMode::single:
      return "single";
    case ApprovalMode::dual:
      return "dual";
  }
  return "unknown";
}

std::string to_string(MfaStep step) {
  switch (step) {
    case MfaStep::request:
      return "request";
    case MfaStep::approve:
      return "approve";
    case MfaStep::connect:
      return "connect";
  }
  return "unknown";
}

bool matches_any_glob(const std::vector<std::string>& globs, std::string_view text) {
  return std::any_of(globs.begin(), globs.end(),
                     [&](const std::string& pattern) { return glob_match(pattern, text); });
}

bool glob_match(std::string_view pattern, std::string_view text) {
  if (pattern.empty()) return text.empty();
  if (pattern.front() == '*') {
    for (std::size_t skip = 0; skip <= text.size(); ++skip) {
      if (glob_match(pattern.substr(1), text.substr(skip))) return true;
    }
    return false;
  }
  if (text.empty()) return false;
  if (pattern.front() == '[') {
    const std::size_t close = pattern.find(']', 2);
    if (close != std::string_view::npos) {
      std::string_view set = pattern.substr(1, close - 1);
      const bool negated = !set.empty() && (set.front() == '!' || set.front() == '^');
      if (negated) set.remove_prefix(1);
      bool found = false;
      for (std::size_t i = 0; i < set.size(); ++i) {
        if (i + 2 < set.size() && set[i + 1] == '-') {
          found = found || (set[i] <= text.front() && text.front() <= set[i + 2]);
          i += 2;
        } else {
          found = found || set[i] == text.front();
        }
      }
      return found != negated && glob_match(pattern.substr(close + 1), text.substr(1));
    }
  }
  if (pattern.front() != '?' && pattern.front() != text.front()) return false;
  return glob_match(pattern.substr(1), text.substr(1));
}

bool CompiledRule::matches_target(const std::string& target) const {
  return matches_any_glob(config.targets, target);
}

bool CompiledRule::admits_requester(const std::vector<std::string>& roles) const {
  return config.roles.empty() || holds_any(roles, config.roles);
}

bool CompiledRule::is_approver(const std::vector<std::string>& roles) const {
  return holds_any(roles, config.approver_roles);
}

bool CompiledRule::needs_mfa(MfaStep step) const {
  return std::find(config.mfa.begin(), config.mfa.end(), step) != config.mfa.end();
}

int CompiledRule::approvals_needed() const {
  switch (config.approval) {
    case ApprovalMode::automatic:
      return 0;
    case ApprovalMode::single:
      return 1;
    case ApprovalMode::dual:
      return 2;
  }
  return 2;
}

Policy::Policy(const std::vector<PolicyRule>& rules, const std::filesystem::path& file) {
  for (const PolicyRule& rule : rules) {
    if (find(rule.name) != nullptr) {
      throw problem_at(file, rule.line,
                       "[[policy]] name \"" + rule.name + "\" is used by an earlier rule");
    }
    rules_.push_back(compile(file, rule));
  }
}

const CompiledRule* Policy::match(const std::vector<std::string>& roles,
                                  const std::string& target) const {
  for (const CompiledRule& rule : rules_) {
    if (rule.matches_target(target) && rule.admits_requester(roles)) return &rule;
  }
  return nullptr;
}

const CompiledRule* Policy::find(const std::string& name) const {
  for (const CompiledRule& rule : rules_) {
    if (rule.config.name == name) return &rule;
  }
  return nullptr;
}

const CompiledRule* Policy::governing(const std::vector<std::string>& roles,
                                      const Grant& grant) const {
  if (!grant.policy.empty()) {
    if (const CompiledRule* named = find(grant.policy)) return named;
  }
  // An administrator's grant, or one whose rule was renamed or removed since: whatever rule
  // now matches governs it.
  return match(roles, grant.target);
}

bool Policy::control_login_needs_mfa(const std::vector<std::string>& roles) const {
  return std::any_of(rules_.begin(), rules_.end(), [&](const CompiledRule& rule) {
    return (rule.needs_mfa(MfaStep::request) && rule.admits_requester(roles)) ||
           (rule.needs_mfa(MfaStep::approve) && rule.is_approver(roles));
  });
}

bool CompiledRule::needs_sso() const {
  return std::find(config.auth.begin(), config.auth.end(), AuthMethod::sso) != config.auth.end();
}

bool Policy::control_login_needs_sso(const std::vector<std::string>& roles) const {
  return std::any_of(rules_.begin(), rules_.end(), [&](const CompiledRule& rule) {
    return rule.needs_sso() && (rule.admits_requester(roles) || rule.is_approver(roles));
  });
}

bool Policy::uses_sso() const {
  return std::any_of(rules_.begin(), rules_.end(),
                     [](const CompiledRule& rule) { return rule.needs_sso(); });
}

std::string describe(const CompiledRule& rule) {
  const PolicyRule& c = rule.config;
  std::vector<std::string> parts;
  parts.push_back(c.approval == ApprovalMode::automatic
                      ? "auto-approved"
                      : to_string(c.approval) + " approval by " + join(c.approver_roles, "/"));
  parts.push_back("at most " + format_duration(c.max_duration));
  if (c.require_ticket) parts.push_back("ticket required");
  if (!c.ticket_pattern.empty()) parts.push_back("ticket matching " + c.ticket_pattern);
  if (!c.hours.empty()) parts.push_back("only " + c.hours);
  if (!c.mfa.empty()) {
    std::vector<std::string> steps;
    for (MfaStep step : c.mfa) steps.push_back(to_string(step));
    parts.push_back("MFA to " + join(steps, "/"));
  }
  if (!c.auth.empty()) {
    std::vector<std::string> methods;
    for (AuthMethod method : c.auth) methods.push_back(method == AuthMethod::key ? "key" : "sso");
    parts.push_back("sign-in " + join(methods, "+"));
  }
  const auto ranges = [](const std::vector<NetworkRange>& list) {
    std::vector<std::string> texts;
    for (const NetworkRange& range : list) texts.push_back(range.text);
    return join(texts, ", ");
  };
  if (!c.source.empty()) parts.push_back("only from " + ranges(c.source));
  if (!c.deny_source.empty()) parts.push_back("never from " + ranges(c.deny_source));
  parts.push_back(c.break_glass ? "break-glass up to " + format_duration(c.break_glass_max)
                                : "no break-glass");
  return "rule " + c.name + ": " + join(parts, ", ");
}

std::string Policy::explain(const User& user, const std::string& target, const std::string& login,
                            TimePoint now) const {
  std::ostringstream out;
  out << "user " << user.name
      << " (roles: " << (user.roles.empty() ? "none" : join(user.roles, ", ")) << ") asking for "
      << target << (login.empty() ? "" : ":" + login) << '\n';
  const CompiledRule* chosen = nullptr;
  for (const CompiledRule& rule : rules_) {
    out << "  " << rule.config.name << " (line " << rule.config.line << "): ";
    if (chosen != nullptr) {
      out << "not considered (an earlier rule applies)\n";
    } else if (!rule.matches_target(target)) {
      out << "skipped: targets " << join(rule.config.targets, ", ") << " do not match " << target
          << '\n';
    } else if (!rule.admits_requester(user.roles)) {
      out << "skipped: requester needs one of the roles " << join(rule.config.roles, ", ") << '\n';
    } else {
      out << "APPLIES\n";
      chosen = &rule;
    }
  }
  if (chosen == nullptr) {
    out << "result: denied (no rule applies; rules are matched in order, no match = deny)\n";
    return out.str();
  }
  out << "result: " << describe(*chosen) << '\n';
  if (chosen->hours) {
    out << "        now " << describe_local(*chosen->hours, now) << ": "
        << (within(*chosen->hours, now) ? "inside" : "outside") << " the allowed hours\n";
  }
  return out.str();
}

}  // namespace portcullis::access
