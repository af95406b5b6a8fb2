// Keyboard-interactive sign-in through the OpenID provider with the OAuth 2.0 Device
// Authorization Grant (RFC 8628): the client is shown "Sign in at URL and enter CODE" as an
// instruction with no prompt, so a stock ssh prints it and answers at once; that answer is
// held while the IdP's token endpoint is polled, and answered with the outcome. The IdP's
// calls block, so they run on the upstream pool (no database there); the user and its roles
// are then updated in one transaction (access::apply_sso_sign_in).
#include <spdlog/spdlog.h>

#include "proxy/session.h"
#include "proxy/session_internal.h"

namespace portcullis::proxy {
namespace {

// After the IdP's own expiry, a little for the last poll and the database.
constexpr std::chrono::seconds kSsoGraceAfterExpiry{30};

bool is_response(ssh_message message) { return ssh_message_auth_kbdint_is_response(message) != 0; }

}  // namespace

bool Session::sso_offered() const { return context_.oidc != nullptr; }

access::Actor Session::actor() const {
  return {*identity_->user, mfa_verified_, used_key_, used_sso_, client_ip_};
}

void Session::handle_sso(SshMessage message) {
  ssh_message m = message.get();
  if (ssh_message_subtype(m) == SSH_AUTH_METHOD_INTERACTIVE) {
    if (auth_step_ == AuthStep::sso_due && !is_response(m)) return start_sso(std::move(message));
    if (auth_step_ == AuthStep::sso_polling && is_response(m) && !sso_answer_) {
      // The client took the code in: its answer waits for the IdP's decision.
      sso_answer_ = std::move(message);
      return poll_sso();
    }
    if (auth_step_ == AuthStep::sso_due && is_response(m)) {
      // The answer to a refusal shown before: the client may start again.
      ssh_message_auth_set_methods(m, SSH_AUTH_METHOD_INTERACTIVE);
      ssh_message_reply_default(m);
      return;
    }
  }
  ssh_message_auth_set_methods(m, SSH_AUTH_METHOD_INTERACTIVE);
  ssh_message_reply_default(m);
}

void Session::start_sso(SshMessage message) {
  auth_step_ = AuthStep::sso_starting;
  sso_answer_ = std::move(message);
  context_.upstreams.blocking(
      [oidc = context_.oidc] { return oidc->start_device_authorization(); },
      [self = shared_from_this()](Outcome<identity::DeviceAuthorization> outcome) {
        self->guarded("SSO start", [&] { self->on_device_authorization(std::move(outcome)); });
        self->pump();
      });
}

void Session::on_device_authorization(Outcome<identity::DeviceAuthorization> outcome) {
  if (phase_ != Phase::authenticating || auth_step_ != AuthStep::sso_starting) return;
  if (!outcome.ok()) {
    return refuse_sso(metrics::AuthFailure::sso_unavailable,
                      "the identity provider cannot start a sign-in: " + outcome.error,
                      "idp_unavailable");
  }
  sso_device_ = std::move(*outcome.value);
  const identity::DeviceAuthorization& device = *sso_device_;
  std::string instruction =
      "Sign in at " + device.verification_uri + " and enter " + device.user_code;
  if (!device.verification_uri_complete.empty()) {
    instruction += "\n(or open " + device.verification_uri_complete + ")";
  }
  instruction += "\nWaiting for the sign-in...";
  auth_step_ = AuthStep::sso_polling;
  sso_deadline_ = std::chrono::steady_clock::now() + device.expires_in;
  // The person needs the IdP's time to sign in, not only login_grace_time.
  login_timer_.expires_after(device.expires_in + kSsoGraceAfterExpiry);
  spdlog::info("conn={} client={} SSO sign-in for {} started (user code {})", connection_id_,
               client_address_, sso_login_name_, device.user_code);
  SshMessage request = std::move(sso_answer_);
  ssh_message_auth_interactive_request(request.get(), "Portcullis sign-in", instruction.c_str(), 0,
                                       nullptr, nullptr);
}

void Session::poll_sso() {
  sso_timer_.expires_after(sso_device_->interval);
  sso_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->phase_ != Phase::authenticating || self->auth_step_ != AuthStep::sso_polling)
      return;
    self->context_.upstreams.blocking(
        [oidc = self->context_.oidc, code = self->sso_device_->device_code] {
          return oidc->poll_device_token(code);
        },
        [self](Outcome<identity::TokenPoll> outcome) {
          self->guarded("SSO poll", [&] { self->on_sso_poll(std::move(outcome)); });
          self->pump();
        });
  });
}

void Session::on_sso_poll(Outcome<identity::TokenPoll> outcome) {
  if (phase_ != Phase::authenticating || auth_step_ != AuthStep::sso_polling) return;
  if (!outcome.ok()) {
    const bool unreachable = outcome.error.find("cannot be reached") != std::string::npos;
    return refuse_sso(
        unreachable ? metrics::AuthFailure::sso_unavailable : metrics::AuthFailure::sso_refused,
        outcome.error, unreachable ? "idp_unavailable" : "refused");
  }
  const identity::TokenPoll& poll = *outcome.value;
  if (poll.state != identity::TokenPoll::State::signed_in) {
    if (std::chrono::steady_clock::now() >= sso_deadline_) {
      return refuse_sso(metrics::AuthFailure::sso_refused,
                        "nobody signed in with the code in time; connect again for a new one",
                        "expired_token");
    }
    // RFC 8628 3.5: slow_down adds 5 seconds to the interval for good.
    if (poll.state == identity::TokenPoll::State::slow_down) {
      sso_device_->interval += std::chrono::seconds(5);
    }
    return poll_sso();
  }
  const identity::SignIn& sign_in = poll.sign_in;
  const std::optional<LoginName> parsed = parse_login_name(sso_login_name_);
  if (!parsed || sign_in.username != parsed->user) {
    return refuse_sso(metrics::AuthFailure::sso_refused,
                      "you signed in at the identity provider as " +
                          peer::printable(sign_in.username, 100) + ", not as " +
                          (parsed ? parsed->user : sso_login_name_) +
                          "; connect as that user or sign in there as " +
                          (parsed ? parsed->user : sso_login_name_),
                      "wrong_user");
  }
  auth_step_ = AuthStep::sso_applying;
  const access::SsoSignIn input{
      sign_in.username, context_.oidc->config().issuer,
      sign_in.subject,  sign_in.groups,
      sign_in.roles,    context_.oidc->config().provision == OidcConfig::Provision::create,
      client_address_};
  const access::ConnectionFacts facts{false, used_key_, true, client_ip_};
  context_.workers.transact(
      [input, facts, login_name = sso_login_name_, running = context_.live.current(),
       &clock = context_.clock](pqxx::work& tx) {
        access::apply_sso_sign_in(tx, input);
        return find_identity(tx, login_name, running->policy, facts, clock.now());
      },
      [self = shared_from_this()](Outcome<Identity> outcome) {
        self->guarded("SSO sign-in", [&] { self->on_sso_applied(std::move(outcome)); });
        self->pump();
      });
}

void Session::on_sso_applied(Outcome<Identity> outcome) {
  if (phase_ != Phase::authenticating || auth_step_ != AuthStep::sso_applying) return;
  if (!outcome.ok()) {
    return refuse_sso(outcome.database_unavailable ? metrics::AuthFailure::sso_unavailable
                                                   : metrics::AuthFailure::sso_refused,
                      outcome.database_unavailable
                          ? "the bastion's database is unreachable; try again shortly"
                          : outcome.error,
                      "refused");
  }
  identity_ = std::move(*outcome.value);
  used_sso_ = true;
  user_ = identity_->parsed->user;
  spdlog::info("conn={} user={} client={} signed in through SSO (roles: {})", connection_id_, user_,
               client_address_, join(identity_->user->roles, ", "));
  SshMessage answer = std::move(sso_answer_);
  arm_login_timer();
  if (identity_->mfa_required && !mfa_verified_) {
    auth_step_ = AuthStep::totp_due;
    ssh_set_auth_methods(client_.get(), SSH_AUTH_METHOD_INTERACTIVE);
    ssh_message_auth_reply_success(answer.get(), 1);
    return;
  }
  complete_authentication(std::move(answer));
}

// The person is told why on their terminal (an instruction with no prompt, as the code was);
// the client's answer to it is refused and it may start again.
void Session::refuse_sso(metrics::AuthFailure reason, const std::string& why,
                         const std::string& audit_reason) {
  auth_step_ = AuthStep::sso_due;
  sso_device_.reset();
  sso_timer_.cancel();
  arm_login_timer();
  audit_later(context_.journal, "anonymous", "sso.sign_in_refused", "login:" + sso_login_name_,
              {{"client", client_address_}, {"reason", audit_reason}, {"message", why}});
  note_auth_failure(sso_login_name_, reason, "SSO: " + why);
  if (phase_ != Phase::authenticating || !sso_answer_) return;
  SshMessage answer = std::move(sso_answer_);
  const std::string instruction = "Sign-in refused: " + peer::printable(why, 400);
  ssh_message_auth_interactive_request(answer.get(), "Portcullis sign-in", instruction.c_str(), 0,
                                       nullptr, nullptr);
}

}  // namespace portcullis::proxy
