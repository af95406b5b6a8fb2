// The access policy: the [[policy]] rules of the config file, compiled once (patterns, allowed
// hours, time zones checked) and matched in order. First match wins; no match means deny.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "access/access.h"
#include "access/config.h"
#include "access/hours.h"
#include "common/common.h"

namespace re2 {
class RE2;
}

namespace portcullis::access {

struct CompiledRule {
  PolicyRule config;
  // RE2: linear time in the ticket's length, so no ticket can make a check blow up.
  std::shared_ptr<const re2::RE2> ticket_pattern;
  std::optional<AllowedHours> hours;

  bool matches_target(const std::string& target) const;
  bool admits_requester(const std::vector<std::string>& roles) const;
  bool is_approver(const std::vector<std::string>& roles) const;
  bool needs_mfa(MfaStep step) const;
  bool needs_sso() const;  // auth names sso
  // Whether the whole ticket matches ticket_pattern (true when the rule has none).
  bool ticket_matches(std::string_view ticket) const;
  int approvals_needed() const;
};

class Policy {
 public:
  // The [[policy]] rules of `file`, in file order. Throws ConfigError "FILE:LINE: what is
  // wrong" for a pattern, hours or zone that is invalid, or a name used twice.
  Policy(const std::vector<PolicyRule>& rules, const std::filesystem::path& file);

  // The first rule whose targets match and whose roles the requester holds; nullptr = deny.
  const CompiledRule* match(const std::vector<std::string>& roles, const std::string& target) const;
  const CompiledRule* find(const std::string& name) const;
  // The rule a grant was made under; for a grant an administrator made outside the policy, or
  // one whose rule was renamed or removed since, the rule matching its target now (nullptr if
  // none: admission then refuses a grant made under a rule, see admit_connection).
  const CompiledRule* governing(const std::vector<std::string>& roles, const Grant& grant) const;
  const std::vector<CompiledRule>& rules() const { return rules_; }

  // Human-readable reasoning for `portcullis policy explain`: every rule in order, why it
  // does or does not apply, and what the applying rule asks for.
  std::string explain(const User& user, const std::string& target, const std::string& login,
                      TimePoint now) const;

  // Whether logging in for control commands must pass TOTP: some rule the user could request
  // or approve under asks for MFA at that step.
  bool control_login_needs_mfa(const std::vector<std::string>& roles) const;
  // The same for SSO: some rule the user could request or approve under names sso in auth.
  bool control_login_needs_sso(const std::vector<std::string>& roles) const;
  // Whether any rule names sso in auth (then [identity.oidc] must be set).
  bool uses_sso() const;

 private:
  std::vector<CompiledRule> rules_;
};

// Glob as in a shell: '*' any run, '?' one character, "[abc]" / "[a-z]" / "[!a]" a set.
bool glob_match(std::string_view pattern, std::string_view text);
// Whether any of `globs` matches `text`: the targets of a [[policy]] or an [[alert_rule]].
bool matches_any_glob(const std::vector<std::string>& globs, std::string_view text);

// One line describing what a rule asks for: "rule prod-db: dual approval by approver, ticket
// ^(CHG|INC)-[0-9]+$, at most 2h, Mon-Fri 08:00-18:00 Europe/Paris, MFA request/approve".
std::string describe(const CompiledRule& rule);

std::string to_string(ApprovalMode mode);
std::string to_string(MfaStep step);

}  // namespace portcullis::access
