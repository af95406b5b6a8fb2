// A control command that goes on after its reply (`connect`, `wait`): the session watches one
// request until it is decided, tells the requester each approval as it comes, and then either
// ends with an exit status or, for `connect`, opens a shell on the target in the same
// connection. Ctrl-C while `connect` waits withdraws the request.
#include <spdlog/spdlog.h>

#include <cstring>

#include "proxy/session.h"
#include "proxy/session_internal.h"

namespace portcullis::proxy {
namespace {

// A decision normally arrives by NOTIFY at once; this poll is the safety net (a lost
// notification, a request lapsing, a database that was down).
constexpr std::chrono::milliseconds kDecisionPoll{2000};
constexpr char kCtrlC = '\x03';
// What a shell returns when interrupted; the requester chose to stop.
constexpr int kInterruptedStatus = 130;

}  // namespace

void Session::begin_waiting(const FollowUp& follow_up) {
  phase_ = Phase::waiting;
  waiting_ = follow_up;
  // Approved already (an active grant, or an automatic rule): no wait at all.
  arm_decision_check(std::chrono::milliseconds::zero());
}

void Session::decision_may_have_changed() {
  if (phase_ == Phase::waiting && waiting_ && wait_step_ == WaitStep::watching) {
    guarded("decision check", [&] { check_decision(); });
  }
}

void Session::arm_decision_check(std::chrono::milliseconds delay) {
  decision_timer_.expires_after(delay);
  decision_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec) return;
    self->guarded("decision timer", [&] {
      if (self->phase_ == Phase::waiting && self->wait_step_ == WaitStep::watching) {
        self->check_decision();
      }
    });
  });
}

void Session::check_decision() {
  wait_step_ = WaitStep::looking;
  context_.workers.transact(
      [id = waiting_->grant_id](pqxx::work& tx) {
        std::optional<access::Grant> grant = access::find_grant(tx, id);
        if (!grant) throw access::AccessError("request " + std::to_string(id) + " is gone");
        return DecisionCheck{std::move(*grant), access::list_approvals(tx, id)};
      },
      [self = shared_from_this()](Outcome<DecisionCheck> outcome) {
        self->guarded("decision check", [&] { self->on_decision(std::move(outcome)); });
        self->pump();
      });
}

void Session::on_decision(Outcome<DecisionCheck> outcome) {
  wait_step_ = WaitStep::watching;
  if (phase_ != Phase::waiting || !waiting_) return;
  if (!outcome.ok()) {
    if (outcome.refused) return end_control("portcullis: " + outcome.error + "\n", 1);
    // The database is down or a query failed: keep waiting, look again later.
    if (!outcome.database_unavailable) {
      spdlog::warn("conn={} user={} cannot look at request {}: {}", connection_id_, user_,
                   waiting_->grant_id, outcome.error);
    }
    return arm_decision_check(kDecisionPoll);
  }
  const access::Grant& grant = outcome.value->grant;
  const DecisionView view =
      view_decision(grant, outcome.value->approvals, waiting_->approvals_given);
  const bool news = grant.approvals_given != waiting_->approvals_given;
  waiting_->approvals_given = grant.approvals_given;
  if (!view.decided) {
    if (news) write_notice("portcullis: " + view.line);
    return arm_decision_check(kDecisionPoll);
  }
  if (view.approved && waiting_->connect) {
    write_notice("portcullis: " + view.line + "; connecting to " + grant.target + " as " +
                 grant.login);
    return connect_after_approval(grant);
  }
  waiting_.reset();
  end_control("portcullis: " + view.line + "\n", view.approved ? 0 : 1);
}

// Keystrokes while waiting go nowhere, except Ctrl-C (sent as a byte under `ssh -t`). End of
// input is not an interrupt: scripts run `wait` with stdin closed.
void Session::read_while_waiting() {
  if (client_channel_ == nullptr || !waiting_) return;
  char buffer[512];
  for (;;) {
    const int read = ssh_channel_read_nonblocking(client_channel_, buffer, sizeof buffer, 0);
    if (read <= 0) return;
    if (std::memchr(buffer, kCtrlC, static_cast<std::size_t>(read)) == nullptr) continue;
    if (waiting_->withdraw_on_interrupt) return withdraw_on_interrupt();
    const std::int64_t id = waiting_->grant_id;
    waiting_.reset();
    decision_timer_.cancel();
    return end_control("portcullis: stopped waiting; request " + std::to_string(id) +
                           " is still pending (see `grants`)\n",
                       kInterruptedStatus);
  }
}

// Ctrl-C while `connect` waits, or the requester left: the request is withdrawn as `revoke`
// would, and a requester still connected is told once it is written.
void Session::withdraw_on_interrupt() {
  const std::int64_t id = waiting_->grant_id;
  waiting_.reset();
  decision_timer_.cancel();
  const bool still_here = phase_ == Phase::waiting;
  if (still_here) phase_ = Phase::control;  // the reply follows the withdrawal
  access::Actor actor = this->actor();
  const std::string reason =
      still_here ? "withdrawn with Ctrl-C while waiting" : "the requester left while waiting";
  context_.workers.transact(
      [actor, id, reason, running = context_.live.current()](pqxx::work& tx) {
        return access::revoke_as_user(tx, running->policy, actor, id, reason);
      },
      [self = shared_from_this(), id, still_here](Outcome<access::Grant> outcome) {
        if (!outcome.ok()) {
          spdlog::warn("conn={} user={} cannot withdraw request {}: {}", self->connection_id_,
                       self->user_, id, outcome.error);
        }
        if (!still_here || self->phase_ != Phase::control) return;
        self->guarded("withdrawal", [&] {
          self->end_control(outcome.ok()
                                ? "portcullis: request " + std::to_string(id) + " withdrawn\n"
                                : "portcullis: request " + std::to_string(id) +
                                      " could not be withdrawn (" + outcome.error +
                                      "); withdraw it with `revoke " + std::to_string(id) + "`\n",
                            outcome.ok() ? kInterruptedStatus : 1);
        });
        self->pump();
      });
}

// The same checks as logging in as USER+TARGET: the grant must admit this user now, within the
// rule's hours, with a TOTP code if the rule asks for one when connecting (this connection can
// only have given one at login).
void Session::connect_after_approval(const access::Grant& grant) {
  wait_step_ = WaitStep::admitting;  // no more looks at the request
  context_.workers.transact(
      [user = *identity_->user, grant, mfa_verified = mfa_verified_,
       facts = access::ConnectionFacts{false, used_key_, used_sso_, client_ip_},
       running = context_.live.current(), &clock = context_.clock](pqxx::work& tx) mutable {
        const access::Policy& policy = running->policy;
        access::ConnectionNeeds needs;
        facts.totp_enrolled = access::totp_enrolled(tx, user.name);
        std::variant<access::Admission, access::Denial> verdict = access::admit_connection(
            tx, policy, user, grant.target, grant.login, facts, needs, clock.now());
        if (needs.sso) {
          return std::variant<access::Admission, access::Denial>(access::Denial{
              access::Denial::Kind::sign_in_method,
              "the rule of grant " + std::to_string(grant.id) +
                  " asks for an SSO sign-in when connecting, and this connection did not sign "
                  "in through SSO: connect again and sign in when asked"});
        }
        if (needs.mfa && !mfa_verified) {
          return std::variant<access::Admission, access::Denial>(access::Denial{
              access::Denial::Kind::mfa_not_given,
              "the rule of grant " + std::to_string(grant.id) +
                  " asks for a TOTP code when connecting: connect with ssh " + user.name + "+" +
                  grant.target + "+" + grant.login + "@<this bastion>"});
        }
        return verdict;
      },
      [self = shared_from_this()](Outcome<std::variant<access::Admission, access::Denial>> out) {
        self->guarded("connect admission", [&] { self->on_connect_admission(std::move(out)); });
        self->pump();
      });
}

void Session::on_connect_admission(
    Outcome<std::variant<access::Admission, access::Denial>> outcome) {
  if (phase_ != Phase::waiting || !waiting_) return;
  waiting_.reset();
  wait_step_ = WaitStep::watching;
  if (!outcome.ok()) {
    if (outcome.database_unavailable) {
      context_.metrics.admission_denied(metrics::Denial::database_unavailable);
    }
    return end_control(outcome.database_unavailable
                           ? "portcullis: the access database is unreachable; connect again "
                             "shortly\n"
                           : "portcullis: cannot connect: " + outcome.error + "\n",
                       1);
  }
  if (auto* denial = std::get_if<access::Denial>(&*outcome.value)) {
    context_.metrics.admission_denied(denial_metric(denial->kind));
    return end_control("portcullis: access denied: " + denial->reason + "\n", 1);
  }
  if (auto limit = hold_target_session()) {
    context_.metrics.admission_denied(limit->kind);
    return end_control("portcullis: access denied: " + limit->reason + "\n", 1);
  }
  // The exec request that ran `connect` becomes the shell: the client already has its answer.
  identity_->admission = std::get<access::Admission>(std::move(*outcome.value));
  setup_.kind = StartKind::shell;
  setup_.command.clear();
  phase_ = Phase::starting;
  start_upstream(std::get<access::Admission>(identity_->admission));
}

}  // namespace portcullis::proxy
