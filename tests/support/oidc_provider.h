// A real OpenID provider for the end-to-end tests: tests/oidc/provider.mjs (npm oidc-provider)
// under node, over HTTPS on 127.0.0.1 with a throw-away CA, one confidential client and users
// with groups. It speaks discovery, JWKS, the device authorization grant (RFC 8628) and the
// authorization code flow with PKCE; tests/oidc/complete_device.mjs plays the user's browser.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/harness.h"

namespace portcullis::e2e {

class OidcProvider {
 public:
  // Why the provider cannot run on this machine (node, tests/oidc/node_modules, openssl, curl
  // missing), or "" when it can. A test skips with this reason, or fails under
  // fixtures_required().
  static std::string unavailable();
  // CI=true: every fixture must be there, so a missing one fails the test instead of skipping.
  static bool fixtures_required();

  // Makes the CA and the server certificate for 127.0.0.1 and picks the port; starts nothing.
  OidcProvider();
  ~OidcProvider();
  OidcProvider(const OidcProvider&) = delete;
  OidcProvider& operator=(const OidcProvider&) = delete;

  // A user who signs in with `password` and carries `groups` in the ID token; a disabled one is
  // refused at sign-in (the device's token request then answers access_denied). Before start().
  void add_user(const std::string& name, const std::string& password,
                const std::vector<std::string>& groups, bool disabled = false);
  // Redirect URIs the client may use in the authorization code flow. Before start().
  void add_redirect_uri(const std::string& uri);

  // Starts node provider.mjs and waits for its "ready" line; throws with its log otherwise.
  void start();
  // SIGTERM; throws unless that ends it within 10 s.
  void stop();
  bool running();
  // Restarts with a fresh signing key (a new key file, a new kid) on the same port: what the
  // relying party sees when the IdP rotates keys. Sessions and codes do not survive it.
  void rotate_keys();

  std::string issuer() const;  // "https://127.0.0.1:PORT"
  std::uint16_t port() const { return port_; }
  // The CA that signed the provider's certificate (PEM): [identity.oidc] ca_file.
  fs::path ca_file() const { return dir_ / "ca.pem"; }
  const std::string& client_id() const { return client_id_; }
  const std::string& client_secret() const { return client_secret_; }
  // A 0600 file holding only the client secret: [identity.oidc] client_secret_file.
  fs::path client_secret_file() const { return dir_ / "client-secret"; }

  // The discovery document (JSON text) and the kids of the JWKS it points to, fetched now.
  std::string discovery() const;
  std::vector<std::string> jwks_kids() const;

  // curl ARGS... trusting ca_file(), with `secret_config` (curl config lines such as
  // `data = "device_code=..."`) in a 0600 file passed with -K, never in argv. With
  // `client_auth`, the client's credentials go the same way (HTTP Basic).
  RunResult curl(const std::vector<std::string>& args, std::string_view secret_config = "",
                 bool client_auth = false) const;

  // Completes a device authorization as `login` through the provider's pages (user code,
  // confirmation, sign-in, consent). Exit status 0 when the device is signed in; otherwise the
  // provider's refusal is in err.
  RunResult complete_device(const std::string& verification_uri, const std::string& user_code,
                            const std::string& login, const std::string& password) const;

  std::string log() const;  // everything provider.mjs wrote so far
  const fs::path& dir() const { return dir_.path(); }

 private:
  struct User {
    std::string password;
    std::vector<std::string> groups;
    bool disabled = false;
  };
  void write_config() const;

  TempDir dir_;
  std::uint16_t port_ = 0;
  std::string client_id_ = "portcullis";
  std::string client_secret_;
  std::vector<std::string> redirect_uris_;
  std::map<std::string, User> users_;
  int key_generation_ = 1;
  std::unique_ptr<BackgroundProcess> process_;
};

}  // namespace portcullis::e2e
