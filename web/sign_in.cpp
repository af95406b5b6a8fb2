#include "web/sign_in.h"

#include <sodium.h>

#include <nlohmann/json.hpp>

namespace portcullis::web {
namespace {

std::string hash_of(const std::string& secret) {
  std::string digest(crypto_hash_sha256_BYTES, '\0');
  crypto_hash_sha256(reinterpret_cast<unsigned char*>(digest.data()),
                     reinterpret_cast<const unsigned char*>(secret.data()), secret.size());
  return digest;
}

pqxx::binarystring bytes(const std::string& raw) { return pqxx::binarystring(raw); }

std::string details(const nlohmann::json& object) {
  return object.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
}

std::string user_actor(const std::string& name) { return "user:" + name; }

// A cookie or token is 43 base64url characters: anything else is not ours and is never
// looked up (nor hashed at length).
bool well_formed(const std::string& secret) {
  if (secret.size() != 43) return false;
  for (char c : secret) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

WebSession session_from_row(pqxx::work& tx, const pqxx::row& row) {
  WebSession session;
  session.id = row["id"].as<std::int64_t>();
  session.method =
      row["sign_in_method"].as<std::string>() == "sso" ? SignInMethod::sso : SignInMethod::link;
  std::optional<access::User> user = access::find_user(tx, row["name"].as<std::string>());
  if (!user) throw access::AccessError("the user of this browser session is gone");
  session.user = std::move(*user);
  session.csrf = row["csrf"].as<std::string>();
  session.mfa_required = row["mfa_required"].as<bool>();
  session.mfa_verified = row["mfa_verified"].as<bool>();
  session.expires_at =
      access::TimePoint(std::chrono::microseconds(row["expires_us"].as<long long>()));
  return session;
}

}  // namespace

std::string random_secret() {
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  char text[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(text, sizeof text, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(raw, sizeof raw);
  return text;
}

std::string issue_login_token(pqxx::work& tx, const access::User& user, const std::string& node,
                              const std::string& client) {
  if (user.disabled) throw access::AccessError("user " + user.name + " is disabled");
  std::string token = random_secret();
  tx.exec_params(
      "INSERT INTO web_login_tokens (token_hash, user_id, node, client, expires_at) "
      "VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
      bytes(hash_of(token)), user.id, node, client,
      static_cast<double>(kLoginLinkLifetime.count()));
  // Links nobody used are of no interest after a day.
  tx.exec("DELETE FROM web_login_tokens WHERE expires_at < now() - interval '1 day'");
  access::audit(
      tx, user_actor(user.name), "web.link_issued", "user:" + user.name,
      details({{"node", node}, {"client", client}, {"valid_seconds", kLoginLinkLifetime.count()}}));
  return token;
}

std::string login_url(const std::string& base, const std::string& token) {
  return base + "/login?token=" + token;
}

Redeemed redeem_login_token(pqxx::work& tx, const std::string& token, const std::string& client,
                            std::chrono::seconds ttl) {
  const std::string refused =
      "this sign-in link was already used or has expired; run ssh USER@BASTION web-login for a "
      "new one";
  if (!well_formed(token)) return {std::nullopt, refused};
  const pqxx::result found = tx.exec_params(
      "SELECT t.used_at IS NOT NULL AS used, t.expires_at < now() AS expired, u.name, u.disabled "
      "FROM web_login_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 "
      "FOR UPDATE OF t",
      bytes(hash_of(token)));
  if (found.empty()) return {std::nullopt, refused};
  const std::string name = found[0]["name"].as<std::string>();
  const bool used = found[0]["used"].as<bool>();
  const bool expired = found[0]["expired"].as<bool>();
  const bool disabled = found[0]["disabled"].as<bool>();
  if (used || expired || disabled) {
    const std::string why = used ? "already used" : expired ? "expired" : "user disabled";
    access::audit(tx, user_actor(name), "web.sign_in_refused", "user:" + name,
                  details({{"client", client}, {"why", why}}));
    return {std::nullopt, disabled ? "user " + name + " is disabled" : refused};
  }
  tx.exec_params("UPDATE web_login_tokens SET used_at = now() WHERE token_hash = $1",
                 bytes(hash_of(token)));
  SignedIn signed_in = start_web_session(tx, name, client, ttl, SignInMethod::link);
  return {std::move(signed_in), ""};
}

SignedIn start_web_session(pqxx::work& tx, const std::string& name, const std::string& client,
                           std::chrono::seconds ttl, SignInMethod method) {
  const bool enrolled = access::totp_enrolled(tx, name);
  const char* method_name = method == SignInMethod::sso ? "sso" : "link";
  SignedIn signed_in;
  signed_in.cookie = random_secret();
  const pqxx::row row = tx.exec_params1(
      "INSERT INTO web_sessions (token_hash, user_id, csrf, mfa_required, client, expires_at, "
      "sign_in_method) "
      "SELECT $1, id, $2, $3, $4, now() + make_interval(secs => $5), $7 FROM users "
      "WHERE name = $6 AND NOT disabled RETURNING id",
      bytes(hash_of(signed_in.cookie)), random_secret(), enrolled, client,
      static_cast<double>(ttl.count()), name, std::string(method_name));
  std::optional<WebSession> session = find_web_session(tx, signed_in.cookie);
  if (!session) throw access::AccessError("user " + name + " is disabled or unknown");
  signed_in.session = std::move(*session);
  access::audit(tx, user_actor(name), "web.signed_in",
                "web_session:" + std::to_string(row[0].as<std::int64_t>()),
                details({{"client", client},
                         {"method", method_name},
                         {"mfa_required", enrolled},
                         {"expires_in_seconds", ttl.count()}}));
  return signed_in;
}

void remember_sso(pqxx::work& tx, const std::string& state, const std::string& browser,
                  const PendingSso& pending, const std::string& client) {
  tx.exec_params(
      "INSERT INTO web_sso_pending (state_hash, browser_hash, nonce, code_verifier, "
      "redirect_uri, client, expires_at) "
      "VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))",
      bytes(hash_of(state)), bytes(hash_of(browser)), pending.nonce, pending.code_verifier,
      pending.redirect_uri, client, static_cast<double>(kSsoSignInLifetime.count()));
  // Sign-ins nobody finished keep their secrets no longer than a day.
  tx.exec("DELETE FROM web_sso_pending WHERE expires_at < now() - interval '1 day'");
}

std::optional<PendingSso> take_sso(pqxx::work& tx, const std::string& state,
                                   const std::string& browser, std::string& why) {
  if (!well_formed(state)) {
    why = "unknown state";
    return std::nullopt;
  }
  const pqxx::result found = tx.exec_params(
      "SELECT browser_hash, nonce, code_verifier, redirect_uri, used_at IS NOT NULL AS used, "
      "expires_at < now() AS expired FROM web_sso_pending WHERE state_hash = $1 FOR UPDATE",
      bytes(hash_of(state)));
  if (found.empty()) {
    why = "unknown state";
    return std::nullopt;
  }
  // Used up whatever happens next: a state is good for one try only.
  tx.exec_params(
      "UPDATE web_sso_pending SET used_at = now() WHERE state_hash = $1 AND used_at IS NULL",
      bytes(hash_of(state)));
  const pqxx::row row = found[0];
  const std::string stored = pqxx::binarystring(row["browser_hash"]).str();
  const std::string presented = hash_of(browser);
  if (row["used"].as<bool>()) {
    why = "already used";
  } else if (row["expired"].as<bool>()) {
    why = "expired";
  } else if (!well_formed(browser) || stored.size() != presented.size() ||
             sodium_memcmp(stored.data(), presented.data(), stored.size()) != 0) {
    why = "other browser";
  } else {
    return PendingSso{row["nonce"].as<std::string>(), row["code_verifier"].as<std::string>(),
                      row["redirect_uri"].as<std::string>()};
  }
  return std::nullopt;
}

std::optional<WebSession> find_web_session(pqxx::work& tx, const std::string& cookie) {
  if (!well_formed(cookie)) return std::nullopt;
  const pqxx::result found = tx.exec_params(
      "SELECT s.id, s.sign_in_method, u.name, s.csrf, s.mfa_required, s.mfa_verified, "
      "(extract(epoch FROM s.expires_at) * 1000000)::bigint AS expires_us "
      "FROM web_sessions s JOIN users u ON u.id = s.user_id "
      "WHERE s.token_hash = $1 AND s.ended_at IS NULL AND s.expires_at > now() "
      "AND NOT u.disabled",
      bytes(hash_of(cookie)));
  if (found.empty()) return std::nullopt;
  return session_from_row(tx, found[0]);
}

void mark_mfa_verified(pqxx::work& tx, const WebSession& session, const std::string& client) {
  tx.exec_params("UPDATE web_sessions SET mfa_verified = true WHERE id = $1", session.id);
  access::audit(tx, user_actor(session.user.name), "web.mfa_verified",
                "web_session:" + std::to_string(session.id), details({{"client", client}}));
}

void end_web_session(pqxx::work& tx, const WebSession& session, const std::string& reason,
                     const std::string& client) {
  tx.exec_params(
      "UPDATE web_sessions SET ended_at = now(), end_reason = $2 WHERE id = $1 AND ended_at IS "
      "NULL",
      session.id, reason);
  access::audit(tx, user_actor(session.user.name), "web.signed_out",
                "web_session:" + std::to_string(session.id),
                details({{"client", client}, {"reason", reason}}));
}

}  // namespace portcullis::web
