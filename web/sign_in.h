// Who a browser is: one-time sign-in links (`ssh USER@BASTION web-login`), sign-ins through the
// OpenID Connect provider (authorization code flow), and the browser sessions they open. Only
// SHA-256 hashes of links and cookies reach the database; every sign-in, failed link and sign-out
// is audited.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "access/access.h"

namespace portcullis::web {

// A sign-in link works once, within this.
inline constexpr std::chrono::seconds kLoginLinkLifetime{60};

// A new one-time sign-in token for `user` (audited `web.link_issued`), asked for over ssh from
// `client` on `node`. Throws AccessError for a disabled or unknown user.
std::string issue_login_token(pqxx::work& tx, const access::User& user, const std::string& node,
                              const std::string& client);
// "https://bastion:8443/login?token=..." for `base` ("https://bastion:8443").
std::string login_url(const std::string& base, const std::string& token);

// How a browser session was opened, for [[policy]] auth: a link is issued to an ssh key login,
// so its session counts as "key"; an SSO session as "sso".
enum class SignInMethod { link, sso };

struct WebSession {
  std::int64_t id = 0;
  SignInMethod method = SignInMethod::link;
  access::User user;  // as stored now: roles read afresh on every request
  std::string csrf;
  bool mfa_required = false;  // enrolled in TOTP: nothing but a code until verified
  bool mfa_verified = false;
  access::TimePoint expires_at;

  bool usable() const { return !mfa_required || mfa_verified; }
};

struct SignedIn {
  std::string cookie;  // the session's secret, for the browser only
  WebSession session;
};

// What a sign-in link gave: a session, or the reason there is none.
struct Redeemed {
  std::optional<SignedIn> signed_in;
  std::string refusal;  // for the person: what happened and what to do
};
// Uses a sign-in token: opens a browser session of `ttl` for its user (audited
// `web.signed_in`). A token that is unknown, used, expired or whose user is disabled is
// refused; a real one's refusal is audited (`web.sign_in_refused`) in `tx`, so commit it.
Redeemed redeem_login_token(pqxx::work& tx, const std::string& token, const std::string& client,
                            std::chrono::seconds ttl);

// Opens a browser session of `ttl` for the existing, enabled user `name` (TOTP still needed when
// enrolled), audited `web.signed_in` with `method`: every way of signing in ends here.
SignedIn start_web_session(pqxx::work& tx, const std::string& name, const std::string& client,
                           std::chrono::seconds ttl, SignInMethod method);

// A sign-in through the OpenID Connect provider that has been started and not yet come back.
inline constexpr std::chrono::seconds kSsoSignInLifetime{600};
struct PendingSso {
  std::string nonce;
  std::string code_verifier;
  std::string redirect_uri;
};
// Keeps a started SSO sign-in under the SHA-256 of `state`, bound to the browser that holds
// the cookie `browser` (its hash only): a state brought back by another browser is refused.
void remember_sso(pqxx::work& tx, const std::string& state, const std::string& browser,
                  const PendingSso& pending, const std::string& client);
// The sign-in `state` names, used up now (a second use is refused). nullopt and `why` ("unknown
// state", "already used", "expired", "other browser") when it cannot be used.
std::optional<PendingSso> take_sso(pqxx::work& tx, const std::string& state,
                                   const std::string& browser, std::string& why);

// The live session `cookie` belongs to: not ended, not expired, its user not disabled.
std::optional<WebSession> find_web_session(pqxx::work& tx, const std::string& cookie);

// The TOTP code was accepted: the session may now act (audited `web.mfa_verified`).
void mark_mfa_verified(pqxx::work& tx, const WebSession& session, const std::string& client);
// Ends the session ("signed_out", or "mfa_failed" after a lockout); audited `web.signed_out`.
void end_web_session(pqxx::work& tx, const WebSession& session, const std::string& reason,
                     const std::string& client);

// A fresh random secret: 32 bytes as unpadded base64url (43 characters).
std::string random_secret();

}  // namespace portcullis::web
