// Keyboard-interactive authentication for the TOTP code that follows an accepted public key
// (as sshd's auth2-kbdint.c). The policy (replays, lockout, audit, alert) is access's
// verdict (access/mfa_check.h); this file asks for the code and tells the client.
#include <spdlog/spdlog.h>

#include "proxy/session.h"
#include "proxy/totp_secret.h"
#include "vault/vault.h"

namespace portcullis::proxy {
namespace {

metrics::AuthFailure totp_refusal(access::MfaOutcome outcome) {
  switch (outcome) {
    case access::MfaOutcome::replayed:
      return metrics::AuthFailure::totp_replayed;
    case access::MfaOutcome::locked:
      return metrics::AuthFailure::mfa_locked_out;
    case access::MfaOutcome::not_enrolled:
      return metrics::AuthFailure::totp_not_enrolled;
    case access::MfaOutcome::accepted:  // not a refusal; never asked
    case access::MfaOutcome::wrong:
      break;
  }
  return metrics::AuthFailure::totp_wrong;
}

}  // namespace

void Session::handle_keyboard_interactive(SshMessage message) {
  ssh_message m = message.get();
  if (ssh_message_subtype(m) != SSH_AUTH_METHOD_INTERACTIVE ||
      auth_step_ == AuthStep::checking_totp) {
    ssh_message_auth_set_methods(m, SSH_AUTH_METHOD_INTERACTIVE);
    ssh_message_reply_default(m);
    return;
  }
  if (ssh_message_auth_kbdint_is_response(m) == 0) {
    const char* prompts[] = {"TOTP code: "};
    char echo[] = {0};
    const std::string instruction = mfa_instruction_.empty()
                                        ? "Enter the 6-digit code from your authenticator app."
                                        : mfa_instruction_;
    ssh_message_auth_interactive_request(m, "Portcullis MFA", instruction.c_str(), 1, prompts,
                                         echo);
    return;
  }
  const char* answer = ssh_userauth_kbdint_getnanswers(client_.get()) == 1
                           ? ssh_userauth_kbdint_getanswer(client_.get(), 0)
                           : nullptr;
  check_totp(std::move(message), answer == nullptr ? "" : answer);
}

void Session::check_totp(SshMessage answer, std::string code) {
  auth_step_ = AuthStep::checking_totp;
  mfa_answer_ = std::move(answer);
  access::MfaAttempt attempt{user_, std::move(code), context_.config.server.node_name,
                             client_address_};
  context_.workers.transact(
      [attempt = std::move(attempt), &vault = context_.vault,
       &clock = context_.clock](pqxx::work& tx) {
        return access::check_totp_code(tx, attempt, clock.now(),
                                       totp_secret_opener(vault, attempt.user));
      },
      [self = shared_from_this()](Outcome<access::MfaVerdict> outcome) {
        self->guarded("TOTP check",
                      [&] { self->on_totp(std::move(self->mfa_answer_), std::move(outcome)); });
        self->pump();
      });
}

void Session::on_totp(SshMessage answer, Outcome<access::MfaVerdict> outcome) {
  if (auth_step_ == AuthStep::checking_totp) auth_step_ = AuthStep::totp_due;
  if (phase_ != Phase::authenticating || !answer) return;
  if (outcome.ok() && outcome.value->accepted()) {
    spdlog::info("conn={} user={} TOTP code accepted", connection_id_, user_);
    mfa_verified_ = true;
    return complete_authentication(std::move(answer));
  }
  metrics::AuthFailure reason = metrics::AuthFailure::totp_unchecked;
  if (outcome.ok()) {
    mfa_instruction_ = outcome.value->instruction();
    if (outcome.value->alert) context_.raise_alert(*outcome.value->alert);
    reason = totp_refusal(outcome.value->outcome);
  } else {
    mfa_instruction_ = "The code could not be checked; try again shortly.";
    spdlog::warn("conn={} cannot check a TOTP code: {}", connection_id_, outcome.error);
  }
  ssh_message_auth_set_methods(answer.get(), SSH_AUTH_METHOD_INTERACTIVE);
  ssh_message_reply_default(answer.get());
  note_auth_failure(identity_->login_name, reason, "TOTP: " + mfa_instruction_);
}

}  // namespace portcullis::proxy
