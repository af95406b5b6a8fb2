// The console's requests as plain values, and the one place that answers them: the pages, the
// JSON API under /api/v1/ and the sign-in. Nothing here knows sockets, TLS or Beast (server.cpp
// does), so every answer is a function of the request, the database and the backend.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "identity/oidc.h"
#include "store/store.h"
#include "web/console.h"
#include "web/sign_in.h"

namespace portcullis::web {

inline constexpr const char* kSessionCookie = "portcullis_session";
// Binds a started SSO sign-in to the browser that started it (login CSRF): SameSite=Lax, as the
// identity provider's redirect back is a cross-site navigation.
inline constexpr const char* kSsoCookie = "portcullis_sso";

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // "/api/v1/sessions/42", percent-decoding left to the handlers
  std::string query;   // after '?', undecoded
  std::string body;
  std::string cookie;      // the value of kSessionCookie, or ""
  std::string sso_cookie;  // the value of kSsoCookie, or ""
  std::string host;        // the Host header
  std::string csrf;        // the X-CSRF-Token header
  std::string content_type;
  std::string client;  // the peer's address
};

struct HttpReply {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // beyond the security headers
};

// What the signed-in user may do beyond their own grants, from their roles and the policy.
struct Permissions {
  bool approve = false;  // holds an approver role of some [[policy]]
  bool audit = false;    // [oversight] watch_roles: sessions, player, search, audit log
  bool kill = false;     // [oversight] kill_roles: terminate a running session
  bool review = false;   // the break-glass review queue
};
Permissions permissions_of(const Config& config, const access::User& user);

// Someone allowed to watch a session live (server.cpp then upgrades to a WebSocket).
struct LiveGrant {
  WebSession session;
  std::string role;  // the role that allows it, shown to the watched user
};

class Api {
 public:
  // `oidc`: [identity.oidc]'s client, nullptr when SSO is off (its routes then answer 404).
  Api(std::string node, std::string database_url, Backend& backend,
      std::shared_ptr<identity::OidcClient> oidc = nullptr);

  // Blocking (database work): call on a console worker thread. Never throws.
  HttpReply handle(const HttpRequest& request);
  // For GET /api/v1/sessions/ID/live: the session of `request` when it may watch, else the
  // refusal as a reply.
  std::variant<LiveGrant, HttpReply> authorize_live(const HttpRequest& request);

  const std::string& node() const { return node_; }
  // The calling console thread's own connection (libpqxx connections are not thread-safe):
  // one per thread, for the API and the live views alike.
  store::Database& database();
  Backend& backend() { return backend_; }

 private:
  struct Authed;
  HttpReply route(const HttpRequest& request);
  HttpReply route_signed_in(const HttpRequest& request, const Authed& authed,
                            const std::vector<std::string>& parts);
  HttpReply sign_in(const HttpRequest& request);
  HttpReply sso_start(const HttpRequest& request);
  HttpReply sso_callback(const HttpRequest& request);
  // Audits `web.sign_in_refused` (`why`) and answers with a page saying `message`.
  HttpReply sso_refused(const HttpRequest& request, const std::string& why,
                        const std::string& message, unsigned status);
  HttpReply totp(const HttpRequest& request, const Authed& authed);
  HttpReply sign_out(const HttpRequest& request, const Authed& authed);
  HttpReply me(const Authed& authed);
  HttpReply command(const Authed& authed, const HttpRequest& request,
                    const std::vector<std::string>& args, unsigned success = 200);
  // A control command's JSON answer; its refusal as an HttpError.
  nlohmann::json command_value(const Authed& authed, const HttpRequest& request,
                               const std::vector<std::string>& args);
  HttpReply targets(const Authed& authed, const HttpRequest& request);
  HttpReply approvals_queue(const Authed& authed, const HttpRequest& request);
  HttpReply sessions(const HttpRequest& request);
  HttpReply session_page(std::int64_t id);
  HttpReply asciicast(std::int64_t id);
  HttpReply search(const HttpRequest& request);
  HttpReply audit_log(const HttpRequest& request);
  HttpReply reviews(const HttpRequest& request);
  HttpReply acknowledge(const Authed& authed, std::int64_t id, const HttpRequest& request);
  std::optional<Authed> authenticate(const HttpRequest& request);
  bool rate_limited(const std::string& client);
  std::string verification_of(std::int64_t session_id, const std::string& state,
                              std::int64_t raw_bytes, std::int64_t& budget);

  const std::string node_;
  const std::string database_url_;  // [database] needs a restart: fixed for the daemon's life
  Backend& backend_;
  const std::shared_ptr<identity::OidcClient> oidc_;
  std::mutex mutex_;  // guards the two maps below
  // Sign-in attempts per address in the current minute.
  std::map<std::string, std::pair<std::chrono::steady_clock::time_point, int>> attempts_;
  // Verdicts of finished recordings (they never change once complete).
  std::map<std::int64_t, std::string> verified_;
};

// Percent-decoding of one query value ('+' is a space); nullopt when malformed.
std::optional<std::string> url_decode(std::string_view text);
// The value of `name` in a query string ("a=1&b=2"), decoded; "" when absent.
std::string query_value(std::string_view query, std::string_view name);

}  // namespace portcullis::web
