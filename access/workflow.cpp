#include "access/workflow.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "access/queries.h"

namespace portcullis::access {
namespace {

using nlohmann::json;

std::string grant_object(std::int64_t id) { return "grant:" + std::to_string(id); }

std::string user_actor(const Actor& actor) { return actor.user.name; }

// Delivered at commit: a requester waiting in `connect` or `wait` on any node learns of it.
void notify_decision(pqxx::work& tx, std::int64_t id) {
  tx.exec_params("SELECT pg_notify('portcullis_decisions', $1)", std::to_string(id));
}

bool holds(const User& user, const std::string& role) {
  return std::find(user.roles.begin(), user.roles.end(), role) != user.roles.end();
}

std::vector<std::string> logins_of(pqxx::work& tx, const std::string& target) {
  std::vector<std::string> logins;
  for (const pqxx::row& row :
       tx.exec_params("SELECT a.login FROM accounts a JOIN targets t ON t.id = a.target_id"
                      " WHERE t.name = $1 ORDER BY a.login",
                      target)) {
    logins.push_back(row[0].as<std::string>());
  }
  return logins;
}

Account account_for(pqxx::work& tx, const RequestInput& input) {
  if (!find_target(tx, input.target)) throw AccessError("no target named " + input.target);
  std::string login = input.login;
  if (login.empty()) {
    const std::vector<std::string> logins = logins_of(tx, input.target);
    if (logins.empty()) throw AccessError("target " + input.target + " has no accounts yet");
    if (logins.size() > 1) {
      throw AccessError("target " + input.target + " has several logins (" + join(logins, ", ") +
                        "): ask for TARGET:LOGIN");
    }
    login = logins.front();
  }
  std::optional<Account> account = find_account(tx, input.target, login);
  if (!account) {
    throw AccessError("target " + input.target + " has no login " + login + " (it has " +
                      join(logins_of(tx, input.target), ", ") + ")");
  }
  return *account;
}

const CompiledRule& rule_for(const Policy& policy, const User& user, const std::string& target) {
  const CompiledRule* rule = policy.match(user.roles, target);
  if (rule == nullptr) {
    throw AccessError("no policy rule lets " + user.name + " ask for " + target +
                      " (run `portcullis policy explain " + user.name + " " + target +
                      "` on the bastion to see why)");
  }
  return *rule;
}

void check_mfa(const CompiledRule& rule, MfaStep step, const Actor& actor) {
  if (!rule.needs_mfa(step) || actor.mfa_verified) return;
  throw AccessError("rule " + rule.config.name + " requires MFA to " + to_string(step) + ", and " +
                    actor.user.name +
                    " has no TOTP enrolled; ask an administrator to run `portcullis user totp " +
                    actor.user.name + "`");
}

std::string method_name(AuthMethod method) { return method == AuthMethod::key ? "an SSH key" : "SSO"; }

// The rule's auth: every method it names was used on this connection.
void check_sign_in(const CompiledRule& rule, MfaStep step, bool used_key, bool used_sso) {
  for (AuthMethod method : rule.config.auth) {
    if (method == AuthMethod::key ? used_key : used_sso) continue;
    throw AccessError(
        "rule " + rule.config.name + " requires signing in with " + method_name(method) + " to " +
        to_string(step) + ", and this connection did not" +
        (method == AuthMethod::sso
             ? ": connect again and sign in at the identity provider when asked (ssh -o "
               "PreferredAuthentications=keyboard-interactive USER@BASTION, or with your key "
               "first when the rule asks for both)"
             : ": connect with your SSH key (and SSO when asked)"));
  }
}

// The rule's source and deny_source, for a client at `source` ("" = the bastion host itself).
void check_source(const CompiledRule& rule, MfaStep step, const std::string& source) {
  if (source.empty() || (rule.config.source.empty() && rule.config.deny_source.empty())) return;
  if (!is_address(source)) {
    // Fail closed: an address we cannot place is in no allowed network, and might be a denied one.
    throw AccessError("rule " + rule.config.name + " limits where to " + to_string(step) +
                      " from, and the client's address (" + inert_line(source.substr(0, 64)) +
                      ") cannot be checked");
  }
  for (const NetworkRange& range : rule.config.deny_source) {
    if (in_range(range, source)) {
      throw AccessError("rule " + rule.config.name + " refuses to " + to_string(step) + " from " +
                        source + " (deny_source " + range.text + ")");
    }
  }
  if (rule.config.source.empty()) return;
  for (const NetworkRange& range : rule.config.source) {
    if (in_range(range, source)) return;
  }
  std::vector<std::string> ranges;
  for (const NetworkRange& range : rule.config.source) ranges.push_back(range.text);
  throw AccessError("rule " + rule.config.name + " allows to " + to_string(step) + " only from " +
                    join(ranges, ", ") + "; " + source + " is not among them");
}

// Everything a rule asks of the person acting at `step` beyond their roles.
void check_actor(const CompiledRule& rule, MfaStep step, const Actor& actor) {
  check_source(rule, step, actor.source);
  check_sign_in(rule, step, actor.used_key, actor.used_sso);
  check_mfa(rule, step, actor);
}

void check_hours(const CompiledRule& rule, TimePoint now) {
  if (!rule.hours || within(*rule.hours, now)) return;
  throw AccessError("rule " + rule.config.name + " allows access only " + rule.config.hours +
                    "; it is now " + describe_local(*rule.hours, now));
}

void check_duration(const CompiledRule& rule, std::chrono::seconds duration,
                    std::chrono::seconds limit, const std::string& what) {
  if (duration.count() <= 0) throw AccessError("--for needs a duration longer than zero");
  if (duration > limit) {
    throw AccessError(what + " under rule " + rule.config.name + " may last at most " +
                      format_duration(limit) + ", not " + format_duration(duration));
  }
}

void check_ticket(const CompiledRule& rule, const std::string& ticket) {
  // The length first: no pattern ever sees more than kMaxTicketChars characters.
  check_free_text(ticket, "--ticket", kMaxTicketChars, false);
  if (ticket.empty()) {
    if (rule.config.require_ticket) {
      throw AccessError("rule " + rule.config.name + " requires a ticket: add --ticket REF" +
                        (rule.config.ticket_pattern.empty()
                             ? std::string()
                             : " matching " + rule.config.ticket_pattern));
    }
    return;
  }
  if (!rule.ticket_matches(ticket)) {
    throw AccessError("ticket \"" + inert_line(ticket) + "\" does not match " +
                      rule.config.ticket_pattern + " as rule " + rule.config.name + " requires");
  }
}

void check_text(const std::string& value, const std::string& what) {
  check_free_text(value, what, kMaxReasonChars);
}

// The row is locked so that two approvals or a revoke cannot interleave.
Grant lock_grant(pqxx::work& tx, std::int64_t id) {
  pqxx::result rows = tx.exec_params(detail::grant_query() + "WHERE g.id = $1 FOR UPDATE OF g", id);
  if (rows.empty()) throw AccessError("no grant or request with id " + std::to_string(id));
  return detail::grant_from_row(rows[0]);
}

json grant_details(const Grant& grant) {
  json details{{"user", grant.user},
               {"target", grant.target},
               {"login", grant.login},
               {"reason", grant.reason},
               {"ticket", grant.ticket},
               {"duration", format_duration(grant.duration)},
               {"policy", grant.policy},
               {"approvals_needed", grant.approvals_needed},
               {"state", to_string(grant.state)}};
  if (grant.has_window()) {
    details["starts_at"] = format_rfc3339(grant.starts_at);
    details["expires_at"] = format_rfc3339(grant.expires_at);
  }
  if (grant.extends) details["extends"] = *grant.extends;
  return details;
}

struct NewGrant {
  const Account& account;
  const RequestInput& input;
  const CompiledRule& rule;
  int approvals_needed;
  bool break_glass;
  std::optional<std::int64_t> extends;
};

std::int64_t insert_grant(pqxx::work& tx, const Actor& requester, const NewGrant& g,
                          const WorkflowSettings& settings) {
  const bool active = g.approvals_needed == 0;
  return tx
      .exec_params1(
          "INSERT INTO grants (user_id, account_id, reason, ticket, duration, starts_at,"
          " expires_at, created_by, status, policy, approvals_needed, break_glass,"
          " review_required, pending_until, extends_grant_id)"
          " VALUES ($1, $2, $3, $4, make_interval(secs => $5),"
          " CASE WHEN $6 THEN now() END, CASE WHEN $6 THEN now() + make_interval(secs => $5) END,"
          " $7, CASE WHEN $6 THEN 'approved' ELSE 'pending' END, $8, $9, $10, $10,"
          " CASE WHEN $6 THEN NULL ELSE now() + make_interval(secs => $11) END, NULLIF($12, 0))"
          " RETURNING id",
          requester.user.id, g.account.id, g.input.reason, g.input.ticket,
          static_cast<long long>(g.input.duration.count()), active, user_actor(requester),
          g.rule.config.name, g.approvals_needed, g.break_glass,
          static_cast<long long>(settings.approval_timeout.count()), g.extends.value_or(0))[0]
      .as<std::int64_t>();
}

// Moves the extended grant's end by the extension's duration; the extension row records the
// added window. The grant must still be active: an ended grant is not brought back.
void apply_extension(pqxx::work& tx, const std::string& actor, std::int64_t extension_id) {
  pqxx::row row = tx.exec_params1(
      "SELECT extends_grant_id, extract(epoch FROM duration)::bigint FROM grants WHERE id = $1",
      extension_id);
  const auto parent_id = row[0].as<std::int64_t>();
  const auto seconds = row[1].as<long long>();
  const Grant parent = lock_grant(tx, parent_id);
  if (parent.state != GrantState::active) {
    throw AccessError("grant " + std::to_string(parent_id) + " is " + to_string(parent.state) +
                      ", so it cannot be extended; request a new grant");
  }
  tx.exec_params(
      "UPDATE grants SET starts_at = p.expires_at,"
      " expires_at = p.expires_at + make_interval(secs => $3), status = 'approved'"
      " FROM grants p WHERE grants.id = $1 AND p.id = $2",
      extension_id, parent_id, seconds);
  tx.exec_params(
      "UPDATE grants SET expires_at = expires_at + make_interval(secs => $2) WHERE id = $1",
      parent_id, seconds);
  const Grant extended = *find_grant(tx, parent_id);
  audit(tx, actor, "grant.extended", grant_object(parent_id),
        json{{"extension", extension_id},
             {"old_expires_at", format_rfc3339(parent.expires_at)},
             {"expires_at", format_rfc3339(extended.expires_at)}}
            .dump());
  tx.exec_params("SELECT pg_notify('portcullis_extensions', $1)", std::to_string(parent_id));
}

void activate(pqxx::work& tx, const std::string& actor, const Grant& grant) {
  if (grant.extends) return apply_extension(tx, actor, grant.id);
  tx.exec_params(
      "UPDATE grants SET status = 'approved', starts_at = now(), expires_at = now() + duration"
      " WHERE id = $1",
      grant.id);
  audit(tx, actor, "grant.activated", grant_object(grant.id),
        grant_details(*find_grant(tx, grant.id)).dump());
}

WorkflowResult finish_request(pqxx::work& tx, const Actor& requester, const NewGrant& g,
                              const WorkflowSettings& settings, const std::string& action) {
  const std::int64_t id = insert_grant(tx, requester, g, settings);
  Grant grant = *find_grant(tx, id);
  json details = grant_details(grant);
  details["approval"] = to_string(g.rule.config.approval);
  audit(tx, user_actor(requester), action, grant_object(id), details.dump());
  if (grant.approvals_needed == 0) {
    if (g.extends) {
      apply_extension(tx, user_actor(requester), id);
    } else {
      audit(tx, user_actor(requester), "grant.activated", grant_object(id), details.dump());
    }
    grant = *find_grant(tx, id);
  }
  return WorkflowResult{grant, &g.rule, {}};
}

void check_approver(const Policy& policy, const Actor& approver, const Grant& grant,
                    const char* verb, const CompiledRule*& rule) {
  const std::string what =
      (grant.extends ? "extension request " : "request ") + std::to_string(grant.id);
  if (grant.state != GrantState::pending || grant.has_window()) {
    throw AccessError(what + " is " + to_string(grant.state) + ", not pending");
  }
  if (grant.user == approver.user.name) {
    throw AccessError("no one may " + std::string(verb) + " their own request");
  }
  rule = policy.find(grant.policy);
  if (rule == nullptr) {
    throw AccessError(what + " was made under rule " + grant.policy +
                      ", which is no longer in the policy; ask for a new request");
  }
  if (!rule->is_approver(approver.user.roles)) {
    throw AccessError("rule " + rule->config.name + " needs an approver holding one of the roles " +
                      join(rule->config.approver_roles, ", ") + "; " + approver.user.name +
                      " holds none");
  }
  check_actor(*rule, MfaStep::approve, approver);
}

}  // namespace

std::vector<Approval> list_approvals(pqxx::work& tx, std::int64_t grant_id) {
  std::vector<Approval> approvals;
  for (const pqxx::row& row :
       tx.exec_params("SELECT u.name, " + detail::micros("p.approved_at") +
                          ", p.comment FROM approvals p JOIN users u ON u.id = p.approver_id"
                          " WHERE p.grant_id = $1 ORDER BY p.approved_at, p.id",
                      grant_id)) {
    approvals.push_back(
        Approval{row[0].as<std::string>(), detail::time_at(row[1]), row[2].as<std::string>()});
  }
  return approvals;
}

WorkflowResult request_grant(pqxx::work& tx, const Policy& policy, const Actor& requester,
                             const RequestInput& input, const WorkflowSettings& settings) {
  check_text(input.reason, "--reason");
  const CompiledRule& rule = rule_for(policy, requester.user, input.target);
  check_actor(rule, MfaStep::request, requester);
  check_hours(rule, settings.now);
  check_duration(rule, input.duration, rule.config.max_duration, "a grant");
  check_ticket(rule, input.ticket);
  const Account account = account_for(tx, input);
  return finish_request(
      tx, requester, NewGrant{account, input, rule, rule.approvals_needed(), false, std::nullopt},
      settings, "request.created");
}

WorkflowResult break_glass(pqxx::work& tx, const Policy& policy, const Actor& requester,
                           const RequestInput& input, const WorkflowSettings& settings) {
  check_text(input.reason, "--reason");
  const CompiledRule& rule = rule_for(policy, requester.user, input.target);
  if (!rule.config.break_glass) {
    throw AccessError("rule " + rule.config.name + " does not allow break-glass access to " +
                      input.target);
  }
  check_actor(rule, MfaStep::request, requester);
  check_duration(rule, input.duration, rule.config.break_glass_max, "break-glass access");
  const Account account = account_for(tx, input);
  WorkflowResult result =
      finish_request(tx, requester, NewGrant{account, input, rule, 0, true, std::nullopt}, settings,
                     "grant.break_glass");
  json fields = grant_details(result.grant);
  fields["grant"] = result.grant.id;
  result.alerts.push_back(AlertEvent{"break_glass", fields.dump()});
  return result;
}

WorkflowResult approve_grant(pqxx::work& tx, const Policy& policy, const Actor& approver,
                             std::int64_t id, const std::string& comment) {
  check_free_text(comment, "--comment", kMaxReasonChars, false);
  Grant grant = lock_grant(tx, id);
  const CompiledRule* rule = nullptr;
  check_approver(policy, approver, grant, "approve", rule);
  const auto inserted = tx.exec_params(
      "INSERT INTO approvals (grant_id, approver_id, comment) VALUES ($1, $2, $3)"
      " ON CONFLICT (grant_id, approver_id) DO NOTHING RETURNING id",
      id, approver.user.id, comment);
  if (inserted.empty()) {
    throw AccessError(approver.user.name + " already approved request " + std::to_string(id) +
                      "; it needs a different approver");
  }
  audit(tx, user_actor(approver), "request.approved", grant_object(id),
        json{{"comment", comment},
             {"approvals_given", grant.approvals_given + 1},
             {"approvals_needed", grant.approvals_needed}}
            .dump());
  if (grant.approvals_given + 1 >= grant.approvals_needed)
    activate(tx, user_actor(approver), grant);
  notify_decision(tx, id);
  WorkflowResult result{*find_grant(tx, id), rule, {}};
  if (rule->config.alert_on_approval) {
    json fields = grant_details(result.grant);
    fields["grant"] = id;
    fields["approver"] = approver.user.name;
    result.alerts.push_back(AlertEvent{"sensitive_approval", fields.dump()});
  }
  return result;
}

WorkflowResult deny_grant(pqxx::work& tx, const Policy& policy, const Actor& approver,
                          std::int64_t id, const std::string& reason) {
  check_text(reason, "--reason");
  Grant grant = lock_grant(tx, id);
  const CompiledRule* rule = nullptr;
  check_approver(policy, approver, grant, "deny", rule);
  detail::deny_request(tx, user_actor(approver), grant, reason);
  return WorkflowResult{*find_grant(tx, id), rule, {}};
}

WorkflowResult extend_grant(pqxx::work& tx, const Policy& policy, const Actor& requester,
                            std::int64_t id, std::chrono::seconds duration,
                            const std::string& reason, const WorkflowSettings& settings) {
  check_text(reason, "--reason");
  const Grant grant = lock_grant(tx, id);
  if (grant.user != requester.user.name) {
    throw AccessError("grant " + std::to_string(id) + " belongs to " + grant.user +
                      "; only its holder may extend it");
  }
  if (grant.extends) {
    throw AccessError(std::to_string(id) + " is an extension; extend grant " +
                      std::to_string(*grant.extends) + " instead");
  }
  if (grant.state != GrantState::active) {
    throw AccessError("grant " + std::to_string(id) + " is " + to_string(grant.state) +
                      "; only an active grant can be extended");
  }
  const CompiledRule& rule = rule_for(policy, requester.user, grant.target);
  check_actor(rule, MfaStep::request, requester);
  check_hours(rule, settings.now);
  check_duration(rule, duration, rule.config.max_duration, "an extension");
  const Account account = *find_account(tx, grant.target, grant.login);
  const RequestInput input{grant.target, grant.login, duration, reason, grant.ticket};
  return finish_request(tx, requester,
                        NewGrant{account, input, rule, rule.approvals_needed(), false, id},
                        settings, "extension.requested");
}

std::variant<Admission, Denial> admit_connection(pqxx::work& tx, const Policy& policy,
                                                 const User& user, const std::string& target,
                                                 const std::string& login,
                                                 const ConnectionFacts& facts,
                                                 ConnectionNeeds& needs, TimePoint now) {
  std::variant<Admission, Denial> verdict = admit(tx, user.name, target, login);
  const auto* admission = std::get_if<Admission>(&verdict);
  if (admission == nullptr) return verdict;
  const CompiledRule* rule = policy.governing(user.roles, admission->grant);
  if (rule == nullptr && !admission->grant.policy.empty()) {
    // Fail closed: a grant made under a rule is never used without one.
    return Denial{Denial::Kind::rule_removed,
                  "grant " + std::to_string(admission->grant.id) + " was approved under rule " +
                      admission->grant.policy +
                      ", which is no longer in the policy, and no rule now covers " + user.name +
                      " on " + target + "; ask for a new grant"};
  }
  if (rule == nullptr) return verdict;
  try {
    check_source(*rule, MfaStep::connect, facts.source);
  } catch (const AccessError& e) {
    return Denial{Denial::Kind::source_refused, e.what()};
  }
  try {
    // SSO the connection has not done yet is asked for next (needs.sso); a missing key cannot be.
    check_sign_in(*rule, MfaStep::connect, facts.used_key, true);
  } catch (const AccessError& e) {
    return Denial{Denial::Kind::sign_in_method, e.what()};
  }
  needs.sso = !facts.used_sso && rule->needs_sso();
  try {
    if (!admission->grant.break_glass) check_hours(*rule, now);
  } catch (const AccessError& e) {
    return Denial{Denial::Kind::outside_hours, e.what()};
  }
  try {
    check_mfa(*rule, MfaStep::connect, Actor{user, facts.totp_enrolled});
  } catch (const AccessError& e) {
    return Denial{Denial::Kind::mfa_not_enrolled, e.what()};
  }
  needs.mfa = rule->needs_mfa(MfaStep::connect);
  if (rule->hours && !admission->grant.break_glass &&
      rule->config.enforce_hours == PolicyRule::EnforceHours::session) {
    Admission& admitted = std::get<Admission>(verdict);
    admitted.hours_end = window_end(*rule->hours, now);
    admitted.hours = rule->config.hours;
  }
  return verdict;
}

Grant revoke_as_user(pqxx::work& tx, const Policy& policy, const Actor& actor, std::int64_t id,
                     const std::string& reason) {
  const Grant grant = lock_grant(tx, id);
  const CompiledRule* rule = policy.find(grant.policy);
  const bool allowed = grant.user == actor.user.name || holds(actor.user, kAdminRole) ||
                       (rule != nullptr && rule->is_approver(actor.user.roles));
  if (!allowed) {
    throw AccessError("grant " + std::to_string(id) + " belongs to " + grant.user +
                      "; only its holder, an approver of its rule or an admin may revoke it");
  }
  return revoke_grant(tx, user_actor(actor), id, reason);
}

std::vector<Grant> grants_of(pqxx::work& tx, const std::string& user) {
  std::vector<Grant> grants;
  for (const pqxx::row& row :
       tx.exec_params(detail::grant_query() + "WHERE u.name = $1 ORDER BY g.id", user)) {
    grants.push_back(detail::grant_from_row(row));
  }
  return grants;
}

std::vector<Grant> requests_for(pqxx::work& tx, const Policy& policy, const User& approver) {
  std::vector<Grant> requests;
  for (const pqxx::row& row : tx.exec_params(
           detail::grant_query() +
               "WHERE g.status = 'pending' AND g.revoked_at IS NULL AND now() < g.pending_until"
               " AND g.user_id <> $1 AND NOT EXISTS (SELECT 1 FROM approvals p"
               " WHERE p.grant_id = g.id AND p.approver_id = $1) ORDER BY g.id",
           approver.id)) {
    Grant grant = detail::grant_from_row(row);
    const CompiledRule* rule = policy.find(grant.policy);
    if (rule != nullptr && rule->is_approver(approver.roles)) requests.push_back(std::move(grant));
  }
  return requests;
}

std::vector<Grant> review_queue(pqxx::work& tx, bool include_acknowledged) {
  std::vector<Grant> grants;
  for (const pqxx::row& row :
       tx.exec(detail::grant_query() + "WHERE g.review_required" +
               (include_acknowledged ? "" : " AND g.reviewed_at IS NULL") + " ORDER BY g.id")) {
    grants.push_back(detail::grant_from_row(row));
  }
  return grants;
}

Grant acknowledge_review(pqxx::work& tx, const std::string& actor, std::int64_t id,
                         const std::string& note) {
  check_text(note, "--note");
  const Grant grant = lock_grant(tx, id);
  if (!grant.review_required) {
    throw AccessError("grant " + std::to_string(id) + " is not flagged for review");
  }
  // Whoever broke the glass does not clear it: another person reviews it.
  if (actor == "user:" + grant.user) {
    throw AccessError("grant " + std::to_string(id) +
                      " is your own break-glass grant; someone else must review it");
  }
  if (grant.reviewed_at) {
    throw AccessError("grant " + std::to_string(id) + " was already reviewed by " +
                      grant.reviewed_by + " at " + format_rfc3339(*grant.reviewed_at));
  }
  tx.exec_params(
      "UPDATE grants SET reviewed_at = now(), reviewed_by = $2, review_note = $3 WHERE id = $1", id,
      actor, note);
  audit(tx, actor, "review.acknowledged", grant_object(id),
        json{{"note", note}, {"user", grant.user}, {"target", grant.target}}.dump());
  return *find_grant(tx, id);
}

int audit_ended_grants(pqxx::work& tx, const std::string& actor) {
  int count = 0;
  for (const pqxx::row& row : tx.exec("SELECT id, status = 'pending' FROM grants"
                                      " WHERE NOT end_audited AND revoked_at IS NULL AND"
                                      " ((status = 'approved' AND expires_at <= now())"
                                      "  OR (status = 'pending' AND pending_until <= now()))"
                                      " ORDER BY id LIMIT 200 FOR UPDATE SKIP LOCKED")) {
    const auto id = row[0].as<std::int64_t>();
    const bool timed_out = row[1].as<bool>();
    const Grant grant = *find_grant(tx, id);
    audit(tx, actor, timed_out ? "request.timed_out" : "grant.expired", grant_object(id),
          grant_details(grant).dump());
    tx.exec_params("UPDATE grants SET end_audited = true WHERE id = $1", id);
    ++count;
  }
  return count;
}

}  // namespace portcullis::access
