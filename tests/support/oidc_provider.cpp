#include "tests/support/oidc_provider.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace portcullis::e2e {
namespace {

using nlohmann::json;

fs::path oidc_dir() { return source_dir() / "tests" / "oidc"; }

// Creates `path` with mode 0600 before a byte of `contents` is in it (write_file would leave it
// readable under the umask until a chmod), replacing an older file.
void write_private_file(const fs::path& path, std::string_view contents) {
  fs::remove(path);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + path.string());
  std::size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = errno;
      ::close(fd);
      throw std::system_error(error, std::generic_category(), "write " + path.string());
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

// openssl, failing with its stderr: a certificate that did not get made is no test.
void openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  run_checked(argv);
}

// A curl config file value: quoted, with the backslash and quote escapes curl reads back.
std::string curl_quoted(std::string_view value) {
  std::string out = "\"";
  for (const char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n' || c == '\r') throw std::invalid_argument("a curl config value has a newline");
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string OidcProvider::unavailable() {
  std::string missing;
  if (run({"node", "--version"}).exit_status != 0) missing += "node (apt-get install nodejs) ";
  if (!fs::exists(oidc_dir() / "node_modules" / "oidc-provider" / "package.json")) {
    missing += "tests/oidc/node_modules (scripts/bootstrap runs npm ci there) ";
  }
  if (run({"openssl", "version"}).exit_status != 0) missing += "openssl ";
  if (run({"curl", "--version"}).exit_status != 0) missing += "curl ";
  if (missing.empty()) return "";
  return "the OpenID provider fixture needs: " + missing;
}

bool OidcProvider::fixtures_required() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string_view(ci) == "true";
}

OidcProvider::OidcProvider()
    : dir_("portcullis-oidc"), port_(free_port()), client_secret_(random_hex(32)) {
  // A CA of its own, so the relying party must be told to trust it (ca_file), as with an IdP
  // behind a private PKI; P-256 keeps key generation fast.
  openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
           "-days", "2", "-subj", "/CN=Portcullis test IdP CA", "-addext",
           "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
           "-keyout", (dir_ / "ca.key").string(), "-out", ca_file().string()});
  openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj",
           "/CN=127.0.0.1", "-keyout", (dir_ / "server.key").string(), "-out",
           (dir_ / "server.csr").string()});
  const fs::path extensions = dir_.write(
      "server.ext",
      "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n");
  openssl({"x509", "-req", "-in", (dir_ / "server.csr").string(), "-CA", ca_file().string(),
           "-CAkey", (dir_ / "ca.key").string(), "-CAcreateserial", "-days", "2", "-extfile",
           extensions.string(), "-out", (dir_ / "server.pem").string()});
  for (const char* key : {"ca.key", "server.key"}) {
    fs::permissions(dir_ / key, fs::perms::owner_read | fs::perms::owner_write);
  }
  write_private_file(client_secret_file(), client_secret_);
}

OidcProvider::~OidcProvider() {
  if (process_ && process_->running()) process_->stop(SIGTERM, 5s);
}

void OidcProvider::add_user(const std::string& name, const std::string& password,
                            const std::vector<std::string>& groups, bool disabled) {
  users_[name] = User{password, groups, disabled};
}

void OidcProvider::add_redirect_uri(const std::string& uri) { redirect_uris_.push_back(uri); }

std::string OidcProvider::issuer() const { return "https://127.0.0.1:" + std::to_string(port_); }

void OidcProvider::write_config() const {
  json users = json::object();
  for (const auto& [name, user] : users_) {
    users[name] = {
        {"password", user.password}, {"groups", user.groups}, {"disabled", user.disabled}};
  }
  const json config = {
      {"port", port_},
      {"tls_cert", (dir_ / "server.pem").string()},
      {"tls_key", (dir_ / "server.key").string()},
      {"jwks_file", (dir_ / ("keys-" + std::to_string(key_generation_) + ".json")).string()},
      {"client",
       {{"client_id", client_id_},
        {"client_secret", client_secret_},
        {"grant_types", {"urn:ietf:params:oauth:grant-type:device_code", "authorization_code"}},
        {"redirect_uris", redirect_uris_},
        {"token_endpoint_auth_method", "client_secret_basic"}}},
      {"users", users},
  };
  // The client secret and the passwords: 0600, and only the path goes on node's command line.
  write_private_file(dir_ / "provider.json", config.dump(2));
}

void OidcProvider::start() {
  if (running()) throw std::logic_error("OidcProvider::start: it is running already");
  write_config();
  const fs::path log_file = dir_ / "provider.log";
  // The log accumulates over restarts: only a "ready" line written after this start counts.
  const std::size_t offset = fs::exists(log_file) ? fs::file_size(log_file) : 0;
  process_ = std::make_unique<BackgroundProcess>(
      std::vector<std::string>{"node", (oidc_dir() / "provider.mjs").string(),
                               (dir_ / "provider.json").string()},
      log_file);
  const std::string ready = "ready " + issuer() + "\n";
  const bool up = wait_until(
      [&] {
        if (!process_->running()) return true;
        const std::string text = read_file(log_file);
        return text.size() > offset && text.find(ready, offset) != std::string::npos;
      },
      30s);
  if (!up || !process_->running()) {
    process_->stop(SIGKILL, 5s);
    throw std::runtime_error(std::string("the OpenID provider did not come up on ") + issuer() +
                             (up ? " (it exited)" : " within 30 s") + "; its log (" +
                             log_file.string() + "):\n" + log());
  }
}

void OidcProvider::stop() {
  if (!process_) return;
  const std::optional<int> status = process_->stop(SIGTERM, 10s);
  process_.reset();
  // Killed by the signal is its normal end (provider.mjs leaves SIGTERM's default action).
  if (status != 128 + SIGTERM) {
    throw std::runtime_error("the OpenID provider did not end on SIGTERM (status " +
                             (status ? std::to_string(*status) : std::string("none: hung")) +
                             "); its log:\n" + log());
  }
}

bool OidcProvider::running() { return process_ && process_->running(); }

void OidcProvider::rotate_keys() {
  stop();
  ++key_generation_;  // a key file that does not exist yet: provider.mjs makes a new key there
  start();
}

std::string OidcProvider::log() const {
  const fs::path log_file = dir_ / "provider.log";
  return fs::exists(log_file) ? read_file(log_file) : std::string();
}

RunResult OidcProvider::curl(const std::vector<std::string>& args, std::string_view secret_config,
                             bool client_auth) const {
  std::string config(secret_config);
  if (!config.empty() && config.back() != '\n') config += '\n';
  if (client_auth) config += "user = " + curl_quoted(client_id_ + ":" + client_secret_) + "\n";
  const fs::path config_file = dir_ / ("curl-" + random_hex(6) + ".conf");
  write_private_file(config_file, config);
  std::vector<std::string> argv{
      "curl",     "--silent",         "--show-error", "--max-time",        "30",
      "--cacert", ca_file().string(), "-K",           config_file.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult result = run(argv, RunOptions().with_timeout(40s));
  fs::remove(config_file);
  return result;
}

std::string OidcProvider::discovery() const {
  const RunResult result = curl({"--fail", issuer() + "/.well-known/openid-configuration"});
  if (result.exit_status != 0) {
    throw std::runtime_error("discovery at " + issuer() + " failed: " + result.err);
  }
  return result.out;
}

std::vector<std::string> OidcProvider::jwks_kids() const {
  const std::string jwks_uri = json::parse(discovery()).at("jwks_uri").get<std::string>();
  const RunResult result = curl({"--fail", jwks_uri});
  if (result.exit_status != 0) throw std::runtime_error(jwks_uri + " failed: " + result.err);
  std::vector<std::string> kids;
  const json jwks = json::parse(result.out);  // named: a loop over a temporary's member dangles
  for (const json& key : jwks.at("keys")) {
    kids.push_back(key.at("kid").get<std::string>());
  }
  return kids;
}

RunResult OidcProvider::complete_device(const std::string& verification_uri,
                                        const std::string& user_code, const std::string& login,
                                        const std::string& password) const {
  const json input = {{"verification_uri", verification_uri},
                      {"user_code", user_code},
                      {"login", login},
                      {"password", password}};
  // The password goes on stdin; the CA is a path, nothing secret. Through env(1) because the
  // environment may hold a NODE_EXTRA_CA_CERTS of its own, which RunOptions::extra_env would add
  // to rather than replace (the first one wins).
  return run({"env", "NODE_EXTRA_CA_CERTS=" + ca_file().string(), "node",
              (oidc_dir() / "complete_device.mjs").string()},
             RunOptions().with_stdin(input.dump()).with_timeout(60s));
}

}  // namespace portcullis::e2e
