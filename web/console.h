// Public interface of the `web` library: the HTTPS console and JSON API that portcullisd serves
// when [web] listen is set (docs/web.md, docs/api.md). It runs on threads of its own: one for
// connections (TLS, HTTP, WebSocket) and [web] threads for the database work of requests, so a
// slow page never holds an SSH event loop. What people may do is decided where the ssh
// control commands decide it: the gateway runs them for the console (Backend).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "access/mfa_check.h"
#include "access/workflow.h"
#include "identity/oidc.h"
#include "settings/running.h"

namespace portcullis::web {

// A control command's result as the console needs it.
struct CommandReply {
  enum class Failure { none, usage, refused, unavailable, internal };
  Failure failure = Failure::none;
  std::string out;    // with --json: one JSON value
  std::string error;  // one line for the person, without the "portcullis: " prefix
};

// What the console asks of the gateway. Every call blocks: it is made on a console thread.
class Backend {
 public:
  virtual ~Backend() = default;
  // Runs `ssh USER@BASTION ARGS...` as `actor` would (args exactly as given, no splitting),
  // delivering the alerts it raises. `client` is the browser's address, for the log.
  virtual CommandReply run_command(const access::Actor& actor, const std::vector<std::string>& args,
                                   const std::string& client) = 0;
  // One TOTP attempt, with the lockout and audit of an ssh login.
  virtual access::MfaVerdict check_totp(const std::string& user, const std::string& code,
                                        const std::string& client) = 0;
  // The configuration in force now (a reload may replace it between two requests).
  virtual std::shared_ptr<const RunningConfig> running() const = 0;
};

class Console {
 public:
  // Reads the certificate and key ([web] tls_cert, tls_key); throws std::runtime_error with a
  // message for the operator when they are unusable or the address cannot be bound. `oidc` is
  // [identity.oidc]'s client (the gateway's), nullptr without: no "Sign in with SSO".
  Console(const Config& config, Backend& backend,
          std::shared_ptr<identity::OidcClient> oidc = nullptr);
  ~Console();
  Console(const Console&) = delete;
  Console& operator=(const Console&) = delete;

  // Serves until stop() (from any thread), which closes every connection.
  void start();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The base of the console's URLs for sign-in links: [web] public_url, else https:// the host
// ssh was reached at and the console's port. "" when the console is off.
std::string console_base_url(const WebConfig& web, const std::string& ssh_host);

}  // namespace portcullis::web
