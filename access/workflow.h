// The just-in-time grant workflow: request, approve, deny, extend, revoke, break-glass, review,
// under the compiled policy. Each call takes an open transaction and writes its audit rows in
// it; callers commit. Refusals throw AccessError with a message fit for the person asking.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "access/access.h"
#include "access/policy.h"

namespace portcullis::access {

// Something security must hear about at once; delivered by the caller after commit.
struct AlertEvent {
  std::string kind;         // "break_glass", "sensitive_approval", "mfa_lockout", ...
  std::string fields_json;  // a JSON object
};

// Who is acting, and what they proved on this connection.
struct Actor {
  User user;
  bool mfa_verified = false;
  // How the connection signed in ([[policy]] auth).
  bool used_key = true;
  bool used_sso = false;
  // The client's address ([[policy]] source, deny_source); "" = on the bastion host itself
  // (the `portcullis` CLI), which no source rule limits.
  std::string source = {};
};

// What a connection brings to admission, and what admission asks of it.
struct ConnectionFacts {
  bool totp_enrolled = false;
  bool used_key = true;
  bool used_sso = false;
  std::string source = {};
};
struct ConnectionNeeds {
  bool mfa = false;  // a TOTP code must follow
  bool sso = false;  // an SSO sign-in must follow (the rule's auth names sso)
};

struct RequestInput {
  std::string target;
  std::string login;  // "" = the target's only account
  std::chrono::seconds duration{0};
  std::string reason;
  std::string ticket;
};

struct WorkflowResult {
  Grant grant;
  const CompiledRule* rule = nullptr;
  std::vector<AlertEvent> alerts;
};

struct WorkflowSettings {
  std::chrono::seconds approval_timeout{24 * 3600};
  TimePoint now;  // for allowed hours; the database clock sets every stored time
};

WorkflowResult request_grant(pqxx::work& tx, const Policy& policy, const Actor& requester,
                             const RequestInput& input, const WorkflowSettings& settings);
WorkflowResult break_glass(pqxx::work& tx, const Policy& policy, const Actor& requester,
                           const RequestInput& input, const WorkflowSettings& settings);
WorkflowResult approve_grant(pqxx::work& tx, const Policy& policy, const Actor& approver,
                             std::int64_t id, const std::string& comment);
WorkflowResult deny_grant(pqxx::work& tx, const Policy& policy, const Actor& approver,
                          std::int64_t id, const std::string& reason);
// An extension is a request of its own (same rule as a new request); once approved, the
// grant's end moves by `duration` and live sessions carry on.
WorkflowResult extend_grant(pqxx::work& tx, const Policy& policy, const Actor& requester,
                            std::int64_t id, std::chrono::seconds duration,
                            const std::string& reason, const WorkflowSettings& settings);
// What logging in as USER+TARGET[+LOGIN] gets now: admit() and then what the policy adds for
// the admitted grant: source addresses, sign-in methods, allowed hours (not for break-glass)
// and MFA. Sets `needs` when a TOTP code or an SSO sign-in must follow.
std::variant<Admission, Denial> admit_connection(pqxx::work& tx, const Policy& policy,
                                                 const User& user, const std::string& target,
                                                 const std::string& login,
                                                 const ConnectionFacts& facts,
                                                 ConnectionNeeds& needs, TimePoint now);

// Own grants and requests, or any for an approver of its rule or an admin.
Grant revoke_as_user(pqxx::work& tx, const Policy& policy, const Actor& actor, std::int64_t id,
                     const std::string& reason);

std::vector<Grant> grants_of(pqxx::work& tx, const std::string& user);
// Pending requests `approver` may decide: not their own, not yet approved by them, under a rule
// naming one of their roles as approver.
std::vector<Grant> requests_for(pqxx::work& tx, const Policy& policy, const User& approver);

// Break-glass grants waiting for a security review, and the review itself.
std::vector<Grant> review_queue(pqxx::work& tx, bool include_acknowledged);
Grant acknowledge_review(pqxx::work& tx, const std::string& actor, std::int64_t id,
                         const std::string& note);

// Writes the audit rows for grants that expired and requests that timed out since the last
// call (any node may call it; rows are claimed with SKIP LOCKED). Returns how many.
int audit_ended_grants(pqxx::work& tx, const std::string& actor);

// Users holding this role may revoke any grant (approving still needs a rule's approver role).
inline constexpr const char* kAdminRole = "admin";

}  // namespace portcullis::access
