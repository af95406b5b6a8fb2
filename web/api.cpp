#include "web/api.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <set>

#include "access/json.h"
#include "common/common.h"
#include "player/player.h"
#include "recorder/postgres_store.h"
#include "store/store.h"
#include "web/assets.h"

namespace portcullis::web {
namespace {

using nlohmann::json;

// Sign-in attempts (links and TOTP codes) per address per minute.
constexpr int kSignInAttemptsPerMinute = 20;
// Free text a person types (reason, comment, note) and search terms.
constexpr std::size_t kMaxText = 1000;
constexpr std::size_t kMaxRows = 500;
// Recordings verified for the sessions list at most, per request (bigger ones say
// "unverified" until someone opens them): a list must answer in well under a second.
constexpr std::int64_t kListVerifyBudget = std::int64_t{64} << 20;
// What one search reads at most.
constexpr std::size_t kSearchSessions = 50;
constexpr std::int64_t kSearchBytes = std::int64_t{256} << 20;

struct HttpError : std::runtime_error {
  HttpError(unsigned status, const std::string& message)
      : std::runtime_error(message), status(status) {}
  unsigned status;
};

HttpReply json_reply(const json& value, unsigned status = 200) {
  HttpReply reply;
  reply.status = status;
  reply.body = value.dump(-1, ' ', true, json::error_handler_t::replace);
  return reply;
}

HttpReply error_reply(unsigned status, const std::string& message) {
  return json_reply({{"error", message}}, status);
}

json parse_body(const HttpRequest& request) {
  if (!request.content_type.starts_with("application/json")) {
    throw HttpError(415, "send the request body as application/json");
  }
  json body = json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    throw HttpError(400, "the request body is not a JSON object");
  }
  return body;
}

// A string field of the body ("" when absent), at most `max` bytes.
std::string text_field(const json& body, const char* name, bool required,
                       std::size_t max = kMaxText) {
  const auto found = body.find(name);
  if (found == body.end() || found->is_null()) {
    if (required) throw HttpError(400, std::string("\"") + name + "\" is required");
    return "";
  }
  if (!found->is_string()) throw HttpError(400, std::string("\"") + name + "\" must be a string");
  std::string value = found->get<std::string>();
  if (value.size() > max) {
    throw HttpError(
        400, std::string("\"") + name + "\" is longer than " + std::to_string(max) + " bytes");
  }
  if (required && value.find_first_not_of(" \t\r\n") == std::string::npos) {
    throw HttpError(400, std::string("\"") + name + "\" is required");
  }
  return value;
}

std::int64_t id_of(const std::string& text) {
  std::int64_t id = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (error != std::errc() || end != text.data() + text.size() || id <= 0) {
    throw HttpError(404, "no such object: \"" + inert_line(text.substr(0, 40)) + "\"");
  }
  return id;
}

// Names go to the control commands as positional words: a leading '-' would be an option.
std::string name_field(const json& body, const char* name, bool required) {
  std::string value = text_field(body, name, required, 64);
  for (char c : value) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '@' || c == '-';
    if (!ok || value.front() == '-') {
      throw HttpError(400, std::string("\"") + name + "\" is not a valid name");
    }
  }
  return value;
}

std::optional<access::TimePoint> time_param(const HttpRequest& request, const char* name) {
  const std::string text = query_value(request.query, name);
  if (text.empty()) return std::nullopt;
  const auto at = player::parse_rfc3339(text);
  if (!at)
    throw HttpError(400, std::string(name) + ": not an RFC 3339 time (2026-12-01T10:00:00Z)");
  return std::chrono::time_point_cast<access::TimePoint::duration>(*at);
}

std::size_t limit_param(const HttpRequest& request, std::size_t fallback) {
  const std::string text = query_value(request.query, "limit");
  if (text.empty()) return fallback;
  std::size_t limit = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), limit);
  if (error != std::errc() || end != text.data() + text.size() || limit == 0) {
    throw HttpError(400, "limit: not a positive number");
  }
  return std::min(limit, kMaxRows);
}

bool same_secret(const std::string& a, const std::string& b) {
  return a.size() == b.size() && !a.empty() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> parts;
  std::size_t start = 1;
  while (start <= path.size()) {
    const std::size_t slash = path.find('/', start);
    const std::size_t end = slash == std::string_view::npos ? path.size() : slash;
    if (end > start) parts.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

std::string cookie_header(const std::string& value, std::chrono::seconds max_age) {
  return std::string(kSessionCookie) + "=" + value +
         "; Path=/; Secure; HttpOnly; SameSite=Strict; " +
         "Max-Age=" + std::to_string(max_age.count());
}

std::string sso_cookie_header(const std::string& value, std::chrono::seconds max_age) {
  return std::string(kSsoCookie) + "=" + value +
         "; Path=/api/v1/sso/; Secure; HttpOnly; SameSite=Lax; Max-Age=" +
         std::to_string(max_age.count());
}

std::string html_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// The browser arrives at the callback by navigation, not from the page's script: it gets a
// page, plain (no script or style, so the CSP holds), that says what happened.
HttpReply sign_in_page(unsigned status, const std::string& message) {
  HttpReply reply;
  reply.status = status;
  reply.content_type = "text/html; charset=utf-8";
  reply.body =
      "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign-in "
      "refused - Portcullis</title></head><body><h1>Sign-in refused</h1><p id=\"refusal\">" +
      html_escape(inert_line(message)) +
      "</p><p><a href=\"/\">Back to the sign-in page</a></p></body></html>";
  reply.headers.emplace_back("Set-Cookie", sso_cookie_header("", std::chrono::seconds(0)));
  return reply;
}

// A Host header usable in our own URL: a name or address and a port, nothing that could end
// or bend the URL.
bool plain_host(std::string_view host) {
  if (host.empty() || host.size() > 255) return false;
  return std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == ':' || c == '[' || c == ']';
  });
}

json signed_in_json(const Config& config, const WebSession& session) {
  const Permissions may = permissions_of(config, session.user);
  return {{"user", session.user.name},
          {"roles", session.user.roles},
          {"mfa_required", session.mfa_required && !session.mfa_verified},
          {"mfa_verified", session.mfa_verified},
          {"csrf", session.csrf},
          {"expires_at", format_rfc3339(session.expires_at)},
          {"may",
           {{"approve", may.approve},
            {"audit", may.audit},
            {"kill", may.kill},
            {"review", may.review}}}};
}

unsigned status_of(CommandReply::Failure failure) {
  switch (failure) {
    case CommandReply::Failure::none:
      return 200;
    case CommandReply::Failure::usage:
      return 400;
    case CommandReply::Failure::refused:
      return 403;
    case CommandReply::Failure::unavailable:
      return 503;
    case CommandReply::Failure::internal:
      break;
  }
  return 500;
}

// What a recording marker says, as a kind the timeline draws.
std::string marker_kind(std::string_view text) {
  if (text.starts_with("grant_warning") || text.starts_with("hours_warning")) return "warning";
  if (text.starts_with("grant_expired") || text.starts_with("outside_hours")) return "expiry";
  if (text.starts_with("killed")) return "kill";
  if (text.starts_with("revoked")) return "revoked";
  if (text.starts_with("alert_rule")) return "alert";
  if (text.starts_with("exit_status") || text.starts_with("exit_signal")) return "exit";
  return "note";
}

double seconds_of(std::uint64_t at_us) { return static_cast<double>(at_us) / 1e6; }

std::string session_state(const access::SessionRow& row) {
  return row.ended_at ? "ended" : "running";
}

}  // namespace

struct Api::Authed {
  WebSession session;
  std::shared_ptr<const RunningConfig> running;
  Permissions may;
  std::string client;
  // [[policy]] auth, source and deny_source judge the browser as they judge an ssh connection.
  access::Actor actor() const {
    const bool sso = session.method == SignInMethod::sso;
    return {session.user, session.mfa_verified, !sso, sso, client};
  }
};

Permissions permissions_of(const Config& config, const access::User& user) {
  Permissions may;
  for (const PolicyRule& rule : config.policies) {
    if (access::role_among(user.roles, rule.approver_roles)) may.approve = true;
  }
  may.audit = access::role_among(user.roles, config.oversight.watch_roles).has_value();
  may.kill = access::role_among(user.roles, config.oversight.kill_roles).has_value();
  may.review = may.audit;
  return may;
}

std::optional<std::string> url_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      int value = 0;
      const auto [end, error] =
          std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
      if (error != std::errc() || end != text.data() + i + 3) return std::nullopt;
      out += static_cast<char>(value);
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::string query_value(std::string_view query, std::string_view name) {
  std::size_t start = 0;
  while (start <= query.size()) {
    const std::size_t amp = query.find('&', start);
    const std::string_view pair =
        query.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
    const std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      if (eq == std::string_view::npos) return "";
      std::optional<std::string> value = url_decode(pair.substr(eq + 1));
      if (!value)
        throw HttpError(400, "the query parameter " + std::string(name) + " is malformed");
      return *value;
    }
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  return "";
}

Api::Api(std::string node, std::string database_url, Backend& backend,
         std::shared_ptr<identity::OidcClient> oidc)
    : node_(std::move(node)),
      database_url_(std::move(database_url)),
      backend_(backend),
      oidc_(std::move(oidc)) {}

store::Database& Api::database() {
  thread_local std::optional<store::Database> database;
  if (!database) database.emplace(database_url_);
  return *database;
}

HttpReply Api::handle(const HttpRequest& request) {
  try {
    return route(request);
  } catch (const HttpError& e) {
    return error_reply(e.status, e.what());
  } catch (const store::DatabaseUnavailable&) {
    return error_reply(503, "the access database is unreachable; try again shortly");
  } catch (const access::AccessError& e) {
    return error_reply(403, inert_line(e.what()));
  } catch (const std::exception& e) {
    spdlog::error("web client={} {} {}: {}", request.client, request.method,
                  inert_line(request.path), e.what());
    return error_reply(500,
                       "the request failed on the bastion; the administrator can find the "
                       "details in its log");
  }
}

HttpReply Api::route(const HttpRequest& request) {
  if (!request.path.starts_with("/api/")) {
    if (request.method != "GET" && request.method != "HEAD") {
      throw HttpError(405, "only GET is served outside /api/");
    }
    const Asset* asset = request.path.starts_with("/assets/")
                             ? find_asset(std::string_view(request.path).substr(8))
                             : find_asset("index.html");
    if (asset == nullptr) throw HttpError(404, "no such file");
    HttpReply reply;
    reply.content_type = std::string(asset->content_type);
    reply.body = std::string(asset->bytes);
    return reply;
  }
  const std::vector<std::string> parts = split_path(request.path);
  if (parts.size() < 3 || parts[1] != "v1") throw HttpError(404, "no such API (use /api/v1/)");
  if (parts.size() == 3 && parts[2] == "login" && request.method == "POST") return sign_in(request);
  if (parts[2] == "sso" && request.method == "GET") {
    // Before any session: the sign-in page asks whether to offer the button.
    if (parts.size() == 3) return json_reply({{"enabled", oidc_ != nullptr}});
    if (!oidc_)
      throw HttpError(404,
                      "sign-in through an identity provider is not configured "
                      "([identity.oidc] in the bastion's configuration)");
    if (parts.size() == 4 && parts[3] == "start") return sso_start(request);
    if (parts.size() == 4 && parts[3] == "callback") return sso_callback(request);
  }
  std::optional<Authed> authed = authenticate(request);
  if (!authed) {
    throw HttpError(401,
                    "not signed in, or the session has ended; run ssh USER@BASTION "
                    "web-login for a sign-in link");
  }
  if (request.method != "GET" && !same_secret(request.csrf, authed->session.csrf)) {
    throw HttpError(403, "the X-CSRF-Token header is missing or wrong; reload the page");
  }
  if (parts.size() == 3 && parts[2] == "me" && request.method == "GET") return me(*authed);
  if (parts.size() == 3 && parts[2] == "logout" && request.method == "POST") {
    return sign_out(request, *authed);
  }
  if (parts.size() == 4 && parts[2] == "login" && parts[3] == "totp" && request.method == "POST") {
    return totp(request, *authed);
  }
  if (!authed->session.usable()) {
    throw HttpError(401, "enter your TOTP code first (POST /api/v1/login/totp)");
  }
  return route_signed_in(request, *authed, parts);
}

HttpReply Api::route_signed_in(const HttpRequest& request, const Authed& authed,
                               const std::vector<std::string>& parts) {
  const std::string& method = request.method;
  const std::string& what = parts[2];
  const std::size_t n = parts.size();
  const bool get = method == "GET", post = method == "POST";
  const auto require = [](bool allowed, const char* role) {
    if (!allowed)
      throw HttpError(403, std::string("your roles do not allow this (it needs ") + role + ")");
  };
  if (what == "grants" && n == 3 && get) return command(authed, request, {"grants", "--json"});
  if (what == "grants" && n == 5 && post && parts[4] == "revoke") {
    const json body = parse_body(request);
    return command(authed, request,
                   {"revoke", std::to_string(id_of(parts[3])),
                    "--reason=" + text_field(body, "reason", false), "--json"});
  }
  if (what == "targets" && n == 3 && get) return targets(authed, request);
  if (what == "requests" && n == 3 && post) {
    const json body = parse_body(request);
    const std::string target = name_field(body, "target", true);
    const std::string login = name_field(body, "login", false);
    std::vector<std::string> args{"request", login.empty() ? target : target + ":" + login,
                                  "--for=" + name_field(body, "duration", true),
                                  "--reason=" + text_field(body, "reason", true)};
    const std::string ticket = text_field(body, "ticket", false, 200);
    if (!ticket.empty()) args.push_back("--ticket=" + ticket);
    args.emplace_back("--json");
    return command(authed, request, args, 201);
  }
  if (what == "requests" && n == 3 && get) {
    require(authed.may.approve, "an approver role of a policy rule");
    return approvals_queue(authed, request);
  }
  if (what == "requests" && n == 5 && post && (parts[4] == "approve" || parts[4] == "deny")) {
    require(authed.may.approve, "an approver role of a policy rule");
    const json body = parse_body(request);
    const bool approve = parts[4] == "approve";
    return command(authed, request,
                   {parts[4], std::to_string(id_of(parts[3])),
                    approve ? "--comment=" + text_field(body, "comment", false)
                            : "--reason=" + text_field(body, "reason", true),
                    "--json"});
  }
  if (what == "sessions" && n == 5 && post && parts[4] == "terminate") {
    require(authed.may.kill, "a role of [oversight] kill_roles");
    const json body = parse_body(request);
    return command(authed, request,
                   {"kill", std::to_string(id_of(parts[3])),
                    "--reason=" + text_field(body, "reason", true), "--json"});
  }
  if (what == "sessions" || what == "search" || what == "audit") {
    require(authed.may.audit, "a role of [oversight] watch_roles");
    if (!get) throw HttpError(405, "use GET");
    if (what == "sessions" && n == 3) return sessions(request);
    if (what == "sessions" && n == 4) return session_page(id_of(parts[3]));
    if (what == "sessions" && n == 5 && parts[4] == "asciicast") return asciicast(id_of(parts[3]));
    if (what == "search" && n == 3) return search(request);
    if (what == "audit" && n == 3) return audit_log(request);
  }
  if (what == "reviews") {
    require(authed.may.review, "a role of [oversight] watch_roles");
    if (n == 3 && get) return reviews(request);
    if (n == 5 && post && parts[4] == "acknowledge")
      return acknowledge(authed, id_of(parts[3]), request);
  }
  throw HttpError(404, "no such API: " + method + " " + inert_line(request.path));
}

bool Api::rate_limited(const std::string& client) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  if (attempts_.size() > 10000)
    std::erase_if(attempts_, [&](const auto& entry) {
      return now - entry.second.first > std::chrono::minutes(1);
    });
  auto& [since, count] = attempts_[client];
  if (now - since > std::chrono::minutes(1)) {
    since = now;
    count = 0;
  }
  return ++count > kSignInAttemptsPerMinute;
}

HttpReply Api::sign_in(const HttpRequest& request) {
  if (rate_limited(request.client)) {
    throw HttpError(429, "too many sign-in attempts from your address; wait a minute");
  }
  const json body = parse_body(request);
  const std::string token = text_field(body, "token", true, 100);
  std::shared_ptr<const RunningConfig> running = backend_.running();
  const std::chrono::seconds ttl = running->config.web.session_ttl;
  Redeemed redeemed = database().transact(
      [&](pqxx::work& tx) { return redeem_login_token(tx, token, request.client, ttl); });
  if (!redeemed.signed_in) throw HttpError(401, redeemed.refusal);
  spdlog::info("web client={} user={} signed in", request.client,
               redeemed.signed_in->session.user.name);
  HttpReply reply = json_reply(signed_in_json(running->config, redeemed.signed_in->session));
  reply.headers.emplace_back("Set-Cookie", cookie_header(redeemed.signed_in->cookie, ttl));
  return reply;
}

HttpReply Api::sso_start(const HttpRequest& request) {
  if (rate_limited(request.client)) {
    throw HttpError(429, "too many sign-in attempts from your address; wait a minute");
  }
  const std::shared_ptr<const RunningConfig> running = backend_.running();
  // The identity provider sends the browser back only to a URI registered there, and the code
  // is traded with that same URI: [web] public_url says which; without it, the address the
  // browser used (a wrong Host only makes the provider refuse the request).
  std::string base = running->config.web.public_url;
  if (base.empty()) {
    if (!plain_host(request.host)) {
      throw HttpError(400,
                      "the Host header is unusable for the sign-in's return address; set "
                      "[web] public_url on the bastion");
    }
    base = "https://" + request.host;
  }
  while (base.ends_with('/')) base.pop_back();
  const PendingSso pending{random_secret(), random_secret(), base + "/api/v1/sso/callback"};
  const std::string state = random_secret();
  const std::string browser = random_secret();
  std::string url;
  try {
    url =
        oidc_->authorization_url(pending.redirect_uri, state, pending.nonce, pending.code_verifier);
  } catch (const identity::SignInError& e) {
    spdlog::warn("web client={} SSO sign-in not started: {}", request.client, e.what());
    return sign_in_page(502, std::string("the identity provider cannot be reached or is "
                                         "misconfigured (") +
                                 e.what() + "); try again later or sign in with a link");
  }
  database().transact(
      [&](pqxx::work& tx) { remember_sso(tx, state, browser, pending, request.client); });
  HttpReply reply;
  reply.status = 302;
  reply.content_type = "text/plain; charset=utf-8";
  reply.headers.emplace_back("Location", url);
  reply.headers.emplace_back("Set-Cookie", sso_cookie_header(browser, kSsoSignInLifetime));
  return reply;
}

HttpReply Api::sso_refused(const HttpRequest& request, const std::string& why,
                           const std::string& message, unsigned status) {
  database().transact([&](pqxx::work& tx) {
    access::audit(tx, "anonymous", "web.sign_in_refused", "client:" + request.client,
                  json({{"client", request.client}, {"method", "sso"}, {"why", why}})
                      .dump(-1, ' ', true, json::error_handler_t::replace));
  });
  spdlog::info("web client={} SSO sign-in refused: {}", request.client, why);
  return sign_in_page(status, message);
}

HttpReply Api::sso_callback(const HttpRequest& request) {
  if (rate_limited(request.client)) {
    throw HttpError(429, "too many sign-in attempts from your address; wait a minute");
  }
  const std::string again = "; start again from the sign-in page";
  const std::string state = query_value(request.query, "state");
  std::string why;
  std::optional<PendingSso> pending = database().transact(
      [&](pqxx::work& tx) { return take_sso(tx, state, request.sso_cookie, why); });
  // An answer from the provider (an error too) counts only for the browser that asked.
  if (!pending) {
    const std::string message =
        why == "other browser"
            ? "this sign-in was started in another browser (or its cookie is gone)" + again
        : why == "expired" ? "this sign-in took longer than 10 minutes" + again
                           : "this sign-in is unknown or was already used" + again;
    return sso_refused(request, why, message, 400);
  }
  // RFC 9207: a provider that names itself must be ours, or another IdP's answer (mix-up) could
  // be taken for it.
  const std::string iss = query_value(request.query, "iss");
  if (!iss.empty() && iss != oidc_->config().issuer) {
    return sso_refused(request, "another issuer",
                       "the answer came from another identity provider" + again, 400);
  }
  const std::string error = query_value(request.query, "error");
  if (!error.empty()) {
    const std::string shown = inert_line(error.substr(0, 64));
    return sso_refused(request, "idp: " + shown,
                       error == "access_denied"
                           ? "the identity provider refused the sign-in (access_denied); ask "
                             "your administrator whether your account may use the bastion"
                           : "the identity provider refused the sign-in (" + shown + ")" + again,
                       403);
  }
  const std::string code = query_value(request.query, "code");
  if (code.empty() || code.size() > 2048) {
    return sso_refused(request, "no code", "the identity provider sent no usable code" + again,
                       400);
  }
  identity::SignIn signed_in;
  try {
    signed_in =
        oidc_->exchange_code(code, pending->code_verifier, pending->redirect_uri, pending->nonce);
  } catch (const identity::SignInError& e) {
    return sso_refused(request, "idp: " + e.reason(), std::string(e.what()) + again, 403);
  }
  const std::shared_ptr<const RunningConfig> running = backend_.running();
  const std::chrono::seconds ttl = running->config.web.session_ttl;
  const access::SsoSignIn input{
      signed_in.username, oidc_->config().issuer,
      signed_in.subject,  signed_in.groups,
      signed_in.roles,    oidc_->config().provision == OidcConfig::Provision::create,
      request.client};
  std::optional<SignedIn> session;
  try {
    session = database().transact([&](pqxx::work& tx) {
      const access::User user = access::apply_sso_sign_in(tx, input);
      return start_web_session(tx, user.name, request.client, ttl, SignInMethod::sso);
    });
  } catch (const access::AccessError& e) {
    return sso_refused(request, "refused: " + inert_line(e.what()), e.what(), 403);
  }
  spdlog::info("web client={} user={} signed in through SSO", request.client,
               session->session.user.name);
  HttpReply reply;
  reply.status = 302;
  reply.content_type = "text/plain; charset=utf-8";
  reply.headers.emplace_back("Location", "/");
  reply.headers.emplace_back("Set-Cookie", cookie_header(session->cookie, ttl));
  reply.headers.emplace_back("Set-Cookie", sso_cookie_header("", std::chrono::seconds(0)));
  return reply;
}

std::optional<Api::Authed> Api::authenticate(const HttpRequest& request) {
  if (request.cookie.empty()) return std::nullopt;
  std::shared_ptr<const RunningConfig> running = backend_.running();
  std::optional<WebSession> session =
      database().transact([&](pqxx::work& tx) { return find_web_session(tx, request.cookie); });
  if (!session) return std::nullopt;
  Permissions may = permissions_of(running->config, session->user);
  return Authed{std::move(*session), std::move(running), may, request.client};
}

HttpReply Api::totp(const HttpRequest& request, const Authed& authed) {
  if (rate_limited(request.client)) {
    throw HttpError(429, "too many sign-in attempts from your address; wait a minute");
  }
  if (!authed.session.mfa_required || authed.session.mfa_verified) return me(authed);
  const json body = parse_body(request);
  const std::string code = text_field(body, "code", true, 16);
  const access::MfaVerdict verdict =
      backend_.check_totp(authed.session.user.name, code, request.client);
  if (!verdict.accepted()) {
    if (verdict.outcome == access::MfaOutcome::locked) {
      database().transact([&](pqxx::work& tx) {
        end_web_session(tx, authed.session, "mfa_failed", request.client);
      });
      throw HttpError(429, verdict.instruction());
    }
    throw HttpError(401, verdict.instruction());
  }
  database().transact(
      [&](pqxx::work& tx) { mark_mfa_verified(tx, authed.session, request.client); });
  Authed verified = authed;
  verified.session.mfa_verified = true;
  return me(verified);
}

HttpReply Api::sign_out(const HttpRequest& request, const Authed& authed) {
  database().transact(
      [&](pqxx::work& tx) { end_web_session(tx, authed.session, "signed_out", request.client); });
  HttpReply reply = json_reply(json::object());
  reply.headers.emplace_back("Set-Cookie", cookie_header("", std::chrono::seconds(0)));
  return reply;
}

HttpReply Api::me(const Authed& authed) {
  return json_reply(signed_in_json(authed.running->config, authed.session));
}

HttpReply Api::command(const Authed& authed, const HttpRequest& request,
                       const std::vector<std::string>& args, unsigned success) {
  return json_reply(command_value(authed, request, args), success);
}

json Api::command_value(const Authed& authed, const HttpRequest& request,
                        const std::vector<std::string>& args) {
  const CommandReply reply = backend_.run_command(authed.actor(), args, request.client);
  if (reply.failure != CommandReply::Failure::none) {
    throw HttpError(status_of(reply.failure), reply.error);
  }
  return json::parse(reply.out);
}

HttpReply Api::targets(const Authed& authed, const HttpRequest& request) {
  const json config = command_value(authed, request, {"config", "--json"});
  json targets = json::array();
  for (const json& host : config.at("hosts")) {
    targets.push_back({{"target", host.at("target")},
                       {"accounts", host.at("accounts")},
                       {"requestable", host.at("requestable")}});
  }
  return json_reply(targets);
}

HttpReply Api::approvals_queue(const Authed& authed, const HttpRequest& request) {
  const json pending = command_value(authed, request, {"requests", "--json"});
  json queue = json::array();
  database().transact([&](pqxx::work& tx) {
    for (const json& grant : pending) {
      json history = json::array();
      const std::vector<access::Grant> theirs =
          access::grants_of(tx, grant.at("user").get<std::string>());
      for (auto g = theirs.rbegin(); g != theirs.rend(); ++g) {  // newest first
        if (g->id == grant.at("id").get<std::int64_t>()) continue;
        history.push_back(access::grant_json(*g));
        if (history.size() == 10) break;
      }
      queue.push_back({{"grant", grant}, {"history", std::move(history)}});
    }
  });
  return json_reply(queue);
}

std::string Api::verification_of(std::int64_t session_id, const std::string& state,
                                 std::int64_t raw_bytes, std::int64_t& budget) {
  if (state == "recording" || state == "incomplete") return state;
  {
    std::lock_guard lock(mutex_);
    if (const auto found = verified_.find(session_id); found != verified_.end()) {
      return found->second;
    }
  }
  if (raw_bytes > budget) return "unverified";
  budget -= raw_bytes;
  std::string bytes;
  std::vector<recorder::PublicKey> keys;
  database().transact([&](pqxx::work& tx) {
    bytes = recorder::load_recording(tx, session_id);
    keys = recorder::stored_node_keys(tx);
  });
  const player::Recording recording = player::open_recording(bytes, keys);
  std::string verdict = recording.integrity.verified ? "verified" : "failed";
  std::lock_guard lock(mutex_);
  verified_[session_id] = verdict;
  return verdict;
}

HttpReply Api::sessions(const HttpRequest& request) {
  access::SessionFilter filter;
  filter.active_only = query_value(request.query, "active") == "true";
  filter.user = query_value(request.query, "user");
  filter.target = query_value(request.query, "target");
  filter.since = time_param(request, "since");
  const std::optional<access::TimePoint> until = time_param(request, "until");
  if (const std::string grant = query_value(request.query, "grant"); !grant.empty()) {
    filter.grant_id = id_of(grant);
  }
  const std::size_t limit = limit_param(request, 100);
  struct Row {
    access::SessionRow session;
    std::optional<access::Grant> grant;
    std::vector<access::Approval> approvals;
    std::string recording_state = "none";
    std::int64_t raw_bytes = 0, stored_bytes = 0;
  };
  std::vector<Row> rows;
  database().transact([&](pqxx::work& tx) {
    for (const access::SessionRow& session : access::recent_sessions(tx, filter, until, limit)) {
      Row row{session, access::find_grant(tx, session.grant_id),
              access::list_approvals(tx, session.grant_id)};
      const pqxx::result recording = tx.exec_params(
          "SELECT r.state, r.raw_bytes, "
          "COALESCE((SELECT sum(length(c.record)) FROM recording_chunks c "
          "WHERE c.session_id = r.session_id), 0) + "
          "COALESCE((SELECT sum(length(s.record)) FROM recording_segments s "
          "WHERE s.session_id = r.session_id), 0) AS stored "
          "FROM recordings r WHERE r.session_id = $1",
          session.id);
      if (!recording.empty()) {
        row.recording_state = recording[0][0].as<std::string>();
        row.raw_bytes = recording[0][1].as<std::int64_t>();
        row.stored_bytes = recording[0][2].as<std::int64_t>();
      }
      rows.push_back(std::move(row));
    }
  });
  std::int64_t budget = kListVerifyBudget;
  json list = json::array();
  for (const Row& row : rows) {
    json approvers = json::array();
    for (const access::Approval& a : row.approvals) approvers.push_back(a.approver);
    std::string verification = row.recording_state;
    if (row.recording_state != "none") {
      try {
        verification = verification_of(row.session.id, row.recording_state, row.raw_bytes, budget);
      } catch (const std::exception& e) {
        verification = "failed";
      }
    }
    list.push_back({{"session", access::session_json(row.session, session_state(row.session))},
                    {"reason", row.grant ? row.grant->reason : ""},
                    {"ticket", row.grant ? row.grant->ticket : ""},
                    {"break_glass", row.grant && row.grant->break_glass},
                    {"approvers", approvers},
                    {"size", row.stored_bytes},
                    {"verification", verification}});
  }
  return json_reply(list);
}

HttpReply Api::session_page(std::int64_t id) {
  std::optional<access::SessionRow> session;
  std::optional<access::Grant> grant;
  std::vector<access::Approval> approvals;
  std::string bytes;
  std::vector<recorder::PublicKey> keys;
  database().transact([&](pqxx::work& tx) {
    session = access::find_session(tx, id);
    if (!session) return;
    grant = access::find_grant(tx, session->grant_id);
    approvals = access::list_approvals(tx, session->grant_id);
    try {
      bytes = recorder::load_recording(tx, id);
    } catch (const recorder::RecordingError&) {
    }
    keys = recorder::stored_node_keys(tx);
  });
  if (!session || !grant) throw HttpError(404, "no session " + std::to_string(id));
  json approvals_json = json::array();
  for (const access::Approval& a : approvals) {
    approvals_json.push_back(
        {{"approver", a.approver}, {"at", format_rfc3339(a.at)}, {"comment", a.comment}});
  }
  json verification = {{"state", "none"}, {"message", "no recording was stored"}};
  json commands = json::array();
  json markers = json::array();
  double duration = 0;
  if (!bytes.empty()) {
    const player::Recording recording = player::open_recording(bytes, keys);
    duration = seconds_of(recording.duration_us);
    const bool complete = !recording.end_reason.empty();
    verification = {
        {"state", recording.integrity.verified ? "verified"
                  : complete                   ? "failed"
                                               : "recording"},
        {"message", recording.integrity.verified ? "hash chain whole; signed by a known node key"
                                                 : inert_line(recording.integrity.problem)}};
    if (complete) {
      std::lock_guard lock(mutex_);
      verified_[id] = recording.integrity.verified ? "verified" : "failed";
    }
    for (const player::Command& c : player::extract_commands(recording)) {
      commands.push_back({{"at", seconds_of(c.at_us)}, {"text", c.line}, {"typed_by", c.typed_by}});
    }
    player::visit_events(recording, [&](const recorder::Event& event) {
      if (event.kind != recorder::EventKind::marker || markers.size() >= 1000) return;
      markers.push_back({{"at", seconds_of(event.at_us)},
                         {"kind", marker_kind(event.data)},
                         {"text", inert_line(event.data)}});
    });
  }
  return json_reply({{"session", access::session_json(*session, session_state(*session))},
                     {"grant", access::grant_json(*grant)},
                     {"approvals", approvals_json},
                     {"verification", verification},
                     {"duration", duration},
                     {"commands", commands},
                     {"markers", markers}});
}

HttpReply Api::asciicast(std::int64_t id) {
  std::string bytes;
  database().transact([&](pqxx::work& tx) {
    try {
      bytes = recorder::load_recording(tx, id);
    } catch (const recorder::RecordingError&) {
      // None stored (yet): an unknown session, one without a recording, one just ended.
    }
  });
  if (bytes.empty())
    throw HttpError(404, "no recording is stored for session " + std::to_string(id));
  HttpReply reply;
  reply.content_type = "application/x-asciicast";
  reply.body = player::export_asciicast(player::open_recording(bytes));
  return reply;
}

HttpReply Api::search(const HttpRequest& request) {
  const std::string q = query_value(request.query, "q");
  if (q.empty() || q.size() > 200)
    throw HttpError(400, "q: give 1 to 200 characters to search for");
  access::SessionFilter filter;
  filter.user = query_value(request.query, "user");
  filter.target = query_value(request.query, "target");
  filter.since = time_param(request, "since");
  const std::size_t limit = limit_param(request, 50);
  std::vector<access::SessionRow> candidates;
  database().transact([&](pqxx::work& tx) {
    candidates = access::recent_sessions(tx, filter, std::nullopt, kSearchSessions);
  });
  std::string needle = q;
  std::transform(needle.begin(), needle.end(), needle.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const player::LineMatcher matches = [&needle](std::string_view line) {
    std::string lowered(line);
    std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return lowered.find(needle) != std::string::npos;
  };
  json results = json::array();
  std::int64_t budget = kSearchBytes;
  for (const access::SessionRow& session : candidates) {
    std::string bytes;
    database().transact([&](pqxx::work& tx) {
      try {
        bytes = recorder::load_recording(tx, session.id);
      } catch (const recorder::RecordingError&) {
      }
    });
    if (bytes.empty()) continue;
    budget -= static_cast<std::int64_t>(bytes.size());
    for (const player::Match& match : player::search(player::open_recording(bytes), matches)) {
      results.push_back({{"session_id", session.id},
                         {"user", session.user},
                         {"target", session.target},
                         {"at", seconds_of(match.at_us)},
                         {"line", match.line}});
      if (results.size() >= limit) return json_reply(results);
    }
    if (budget < 0) break;
  }
  return json_reply(results);
}

HttpReply Api::audit_log(const HttpRequest& request) {
  access::AuditFilter filter;
  filter.user = query_value(request.query, "actor");
  filter.action = query_value(request.query, "action");
  filter.object = query_value(request.query, "object");
  filter.since = time_param(request, "since");
  filter.until = time_param(request, "until");
  filter.limit = limit_param(request, 200);
  std::vector<access::AuditEvent> events;
  database().transact([&](pqxx::work& tx) { events = access::list_audit(tx, filter); });
  json list = json::array();
  for (auto it = events.rbegin(); it != events.rend(); ++it) {
    list.push_back(access::audit_event_json(*it));
  }
  return json_reply(list);
}

HttpReply Api::reviews(const HttpRequest& request) {
  const bool all = query_value(request.query, "all") == "true";
  json list = json::array();
  database().transact([&](pqxx::work& tx) {
    for (const access::Grant& g : access::review_queue(tx, all))
      list.push_back(access::grant_json(g));
  });
  return json_reply(list);
}

HttpReply Api::acknowledge(const Authed& authed, std::int64_t id, const HttpRequest& request) {
  const json body = parse_body(request);
  const std::string note = text_field(body, "note", true);
  access::Grant grant;
  database().transact([&](pqxx::work& tx) {
    grant = access::acknowledge_review(tx, "user:" + authed.session.user.name, id, note);
  });
  return json_reply(access::grant_json(grant));
}

std::variant<LiveGrant, HttpReply> Api::authorize_live(const HttpRequest& request) {
  try {
    std::optional<Authed> authed = authenticate(request);
    if (!authed || !authed->session.usable()) {
      return error_reply(401, "not signed in, or the session has ended");
    }
    const std::optional<std::string> role = access::role_among(
        authed->session.user.roles, authed->running->config.oversight.watch_roles);
    if (!role) return error_reply(403, "your roles do not allow watching sessions");
    return LiveGrant{std::move(authed->session), *role};
  } catch (const store::DatabaseUnavailable&) {
    return error_reply(503, "the access database is unreachable; try again shortly");
  } catch (const std::exception& e) {
    spdlog::error("web client={} live view: {}", request.client, e.what());
    return error_reply(500, "the request failed on the bastion");
  }
}

}  // namespace portcullis::web
