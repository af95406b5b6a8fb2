// Who a browser is: one-time sign-in links (`ssh USER@BASTION web-login`) and the browser
// sessions they open. Only SHA-256 hashes of links and cookies reach the database; every
// sign-in, failed link and sign-out is audited.
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

struct WebSession {
  std::int64_t id = 0;
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
