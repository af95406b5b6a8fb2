// Public-key authentication (as sshd's auth2-pubkey.c): the login name is looked up once
// (user, TOTP enrolment, admission to the target it names), offered keys are answered against
// it, and too many refusals end the connection.
#include <spdlog/spdlog.h>

#include "proxy/session.h"
#include "proxy/session_internal.h"
#include "sshkey/sshkey.h"

namespace portcullis::proxy {
namespace {

// Like sshd's MaxAuthTries: a client offering many keys is cut off.
constexpr int kMaxAuthAttempts = 6;
constexpr std::size_t kMaxQueuedAuthMessages = 8;

}  // namespace

void Session::handle_auth(SshMessage message) {
  if (phase_ != Phase::authenticating) {
    ssh_message_reply_default(message.get());
    return;
  }
  if (auth_step_ == AuthStep::totp_due || auth_step_ == AuthStep::checking_totp) {
    return handle_keyboard_interactive(std::move(message));
  }
  if (auth_step_ >= AuthStep::sso_due) return handle_sso(std::move(message));
  const int subtype = ssh_message_subtype(message.get());
  if (subtype == SSH_AUTH_METHOD_INTERACTIVE && sso_offered() &&
      auth_step_ == AuthStep::offering_key) {
    return begin_sso_without_key(std::move(message));
  }
  if (subtype != SSH_AUTH_METHOD_PUBLICKEY) {
    ssh_message_auth_set_methods(message.get(), offered_methods());
    ssh_message_reply_default(message.get());
    return;
  }
  const std::optional<std::string> checked_name = login_name_or_refuse(message.get());
  if (!checked_name) return;
  const std::string& name = *checked_name;
  if (identity_ && identity_->login_name == name) return answer_public_key(std::move(message));
  if (waiting_for_identity_.size() >= kMaxQueuedAuthMessages) {
    ssh_message_reply_default(message.get());
    return;
  }
  waiting_for_identity_.push_back(std::move(message));
  if (auth_step_ != AuthStep::looking_up) look_up_identity(name);
}

// The login name of an authentication request, or nullopt after refusing it as invalid.
std::optional<std::string> Session::login_name_or_refuse(ssh_message message) {
  peer::Checked<std::string> checked_name = peer::login_name(message);
  if (checked_name.ok()) return std::move(*checked_name.value);
  note_auth_failure(peer::printable(ssh_message_auth_user(message)),
                    metrics::AuthFailure::invalid_name, checked_name.refusal);
  if (phase_ == Phase::authenticating) ssh_message_reply_default(message);
  return std::nullopt;
}

int Session::offered_methods() const {
  return SSH_AUTH_METHOD_PUBLICKEY | (sso_offered() ? SSH_AUTH_METHOD_INTERACTIVE : 0);
}

// keyboard-interactive before any key was accepted: the person signs in through the IdP alone.
void Session::begin_sso_without_key(SshMessage message) {
  std::optional<std::string> checked_name = login_name_or_refuse(message.get());
  if (!checked_name) return;
  sso_login_name_ = std::move(*checked_name);
  auth_step_ = AuthStep::sso_due;
  start_sso(std::move(message));
}

Session::Identity Session::find_identity(pqxx::work& tx, const std::string& login_name,
                                         const access::Policy& policy,
                                         const access::ConnectionFacts& given,
                                         access::TimePoint now) {
  const std::optional<LoginName> parsed = parse_login_name(login_name);
  Identity identity{login_name, parsed, std::nullopt, std::monostate{}, false, false, false};
  if (!parsed) return identity;
  identity.user = access::find_user(tx, parsed->user);
  if (!identity.user) return identity;
  access::ConnectionFacts facts = given;
  facts.totp_enrolled = access::totp_enrolled(tx, parsed->user);
  if (parsed->target.empty()) {
    identity.mfa_required =
        facts.totp_enrolled && policy.control_login_needs_mfa(identity.user->roles);
    identity.sso_required = !facts.used_sso && policy.control_login_needs_sso(identity.user->roles);
    return identity;
  }
  access::ConnectionNeeds needs;
  std::visit([&](auto&& verdict) { identity.admission = std::forward<decltype(verdict)>(verdict); },
             access::admit_connection(tx, policy, *identity.user, parsed->target, parsed->login,
                                      facts, needs, now));
  identity.mfa_required = needs.mfa;
  identity.sso_required = needs.sso;
  return identity;
}

void Session::look_up_identity(const std::string& login_name) {
  auth_step_ = AuthStep::looking_up;
  const access::ConnectionFacts facts{false, true, false, client_ip_};
  context_.workers.transact(
      [login_name, facts, running = context_.live.current(),
       &clock = context_.clock](pqxx::work& tx) {
        return find_identity(tx, login_name, running->policy, facts, clock.now());
      },
      [self = shared_from_this(), login_name](Outcome<Identity> outcome) {
        self->guarded("identity lookup",
                      [&] { self->on_identity(login_name, std::move(outcome)); });
        self->pump();
      });
}

void Session::on_identity(const std::string& login_name, Outcome<Identity> outcome) {
  // A key accepted meanwhile (for the name looked up before) settled who this is: a late
  // answer for another name must not replace the identity its TOTP code is checked for.
  if (phase_ != Phase::authenticating || auth_step_ != AuthStep::looking_up) return;
  auth_step_ = AuthStep::offering_key;
  if (outcome.ok()) {
    identity_ = std::move(*outcome.value);
  } else {
    if (!outcome.database_unavailable) {
      spdlog::error("conn={} cannot look up {}: {}", connection_id_, login_name, outcome.error);
    }
    identity_ = Identity{
        login_name, parse_login_name(login_name), std::nullopt, std::monostate{}, true, false,
        false};
  }
  while (!waiting_for_identity_.empty() && phase_ == Phase::authenticating) {
    SshMessage next = std::move(waiting_for_identity_.front());
    waiting_for_identity_.pop_front();
    // Queued messages passed peer::login_name already.
    const std::string next_name = *peer::login_name(next.get()).value;
    if (next_name == login_name) {
      answer_public_key(std::move(next));
    } else {
      waiting_for_identity_.push_front(std::move(next));
      return look_up_identity(next_name);
    }
  }
}

// Why a key was not accepted for `identity`, for the metrics (the client is told nothing more
// than OpenSSH would tell it).
metrics::AuthFailure Session::key_refusal(const Identity& identity, bool key_listed) {
  if (key_listed) return metrics::AuthFailure::bad_signature;
  if (!identity.parsed) return metrics::AuthFailure::invalid_name;
  if (!identity.user) return metrics::AuthFailure::unknown_user;
  if (identity.user->disabled) return metrics::AuthFailure::user_disabled;
  return metrics::AuthFailure::unknown_key;
}

void Session::answer_public_key(SshMessage message) {
  peer::AuthPublicKey offered = peer::auth_public_key(message.get());
  const Identity& identity = *identity_;
  // The database being down leaves no way to check the key. Authentication then
  // "succeeds" only so the client can be told why it is refused: admission fails
  // closed for such a session and it never reaches a target.
  bool accepted = identity.database_unavailable ||
                  (identity.user && !identity.user->disabled && offered.key != nullptr &&
                   sshkey::is_listed(offered.key, identity.user->public_keys));
  if (!accepted || offered.state == SSH_PUBLICKEY_STATE_WRONG) {
    note_auth_failure(identity.login_name, key_refusal(identity, accepted),
                      accepted ? "bad signature" : "key not accepted");
    ssh_message_reply_default(message.get());
    return;
  }
  if (offered.state == SSH_PUBLICKEY_STATE_NONE) {
    ssh_message_auth_reply_pk_ok_simple(message.get());
    return;
  }
  user_ = identity.parsed ? identity.parsed->user : identity.login_name;
  used_key_ = true;
  waiting_for_identity_.clear();
  spdlog::info("conn={} accepted publickey for {} from {}{}", connection_id_, identity.login_name,
               client_address_,
               identity.database_unavailable ? " (database unreachable: will refuse)"
               : identity.mfa_required       ? "; TOTP code required"
                                             : "");
  if (identity.sso_required && !identity.database_unavailable && sso_offered()) {
    // A partial success: the client goes on with keyboard-interactive for the IdP's sign-in.
    sso_login_name_ = identity.login_name;
    auth_step_ = AuthStep::sso_due;
    ssh_set_auth_methods(client_.get(), SSH_AUTH_METHOD_INTERACTIVE);
    ssh_message_auth_reply_success(message.get(), 1);
    return;
  }
  if (identity.mfa_required && !identity.database_unavailable) {
    // A partial success: the client goes on with keyboard-interactive for the code.
    auth_step_ = AuthStep::totp_due;
    ssh_set_auth_methods(client_.get(), SSH_AUTH_METHOD_INTERACTIVE);
    ssh_message_auth_reply_success(message.get(), 1);
    return;
  }
  complete_authentication(std::move(message));
}

void Session::complete_authentication(SshMessage message) {
  ssh_message_auth_reply_success(message.get(), 0);
  phase_ = Phase::ready;
  startup_.release();
  context_.limits.login_succeeded(startup_.source());
}

void Session::note_auth_failure(const std::string& login_name, metrics::AuthFailure reason,
                                const std::string& why) {
  context_.metrics.auth_failed(reason);
  ++auth_failures_;
  spdlog::info("conn={} authentication refused for {} from {}: {}", connection_id_, login_name,
               client_address_, why);
  if (auth_failures_ < kMaxAuthAttempts) return;
  audit_later(context_.journal, "anonymous", "auth.failure", "login:" + login_name,
              {{"client", client_address_}, {"attempts", auth_failures_}, {"reason", why}});
  spdlog::warn("conn={} too many authentication failures for {} from {}; disconnecting",
               connection_id_, login_name, client_address_);
  release();
}

}  // namespace portcullis::proxy
