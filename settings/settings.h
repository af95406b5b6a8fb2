// The whole of portcullis.toml: [server] (the gateway's own table) and the tables of every
// library, each declared by the library that owns it (store/config.h, vault/config.h,
// access/config.h, recorder/config.h, alerts/config.h, targetssh/config.h,
// rotation/config.h, metrics/config.h, identity/config.h, common/config.h; [server] and [web] here), loaded in one
// pass. A new table belongs in its library's folder plus one member here.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "access/alert_rules.h"
#include "access/config.h"
#include "alerts/config.h"
#include "common/config.h"
#include "identity/config.h"
#include "metrics/config.h"
#include "recorder/config.h"
#include "rotation/config.h"
#include "store/config.h"
#include "targetssh/config.h"
#include "vault/config.h"

namespace portcullis {

struct ServerConfig {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 2222;
  // The daemon's own files (host, vault and signing keys, spool, journal) unless named one by
  // one: "state" beside the config file by default, /var/lib/portcullis when packaged.
  std::filesystem::path state_dir;
  std::filesystem::path
      host_key;  // absolute after loading; default <state_dir>/ssh_host_ed25519_key
  std::string node_name = "node1";
  // How engineers reach the bastion, for the ssh_config lines `ssh USER@BASTION config` prints;
  // "" = the address each client connected to. The port defaults to the listening port.
  std::string public_address;
  std::optional<std::uint16_t> public_port;
  // Time a connection has to authenticate and start a session or a control command
  // ([server] login_grace_time; login_grace is the older name), and then to take a control
  // command's reply.
  std::chrono::seconds login_grace{30};
  std::chrono::seconds upstream_timeout{10};  // connect + login to a target
  // Event loops, each on a thread of its own, that carry the connections (a connection stays on
  // the loop that accepted it); 0 = one per core.
  int threads = 0;
  int worker_threads = 4;  // blocking work on the database: logins, MFA
  // Logins to targets, each blocking a thread for at most upstream_timeout; a target that
  // never answers costs one of these, never a worker_threads thread.
  int upstream_threads = 32;

  // Connections not yet authenticated, as OpenSSH's MaxStartups "start:rate:full".
  struct StartupLimit {
    int start = 10;
    int rate = 30;  // percent
    int full = 100;
    bool operator==(const StartupLimit&) const = default;
  };
  StartupLimit max_startups;
  int per_source_max_startups = 10;
  // Each failed login from an address delays the next handshake from it (doubling, at most
  // 10 s); other addresses are not slowed.
  bool auth_back_off = true;
  int max_sessions_per_user = 10;  // target sessions open at once
  int max_sessions = 10000;
  // Algorithms offered to clients (libssh names, comma-separated): modern and fast only.
  std::string kex_algorithms =
      "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,"
      "ecdh-sha2-nistp521";
  std::string ciphers =
      "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com";
  // Used only with a cipher that has no integrity of its own (none of the defaults).
  std::string macs = "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com";
  std::string host_key_algorithms =
      "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521";

  bool operator==(const ServerConfig&) const = default;
};

// [server] into `server`.
void declare_server_config(ConfigSchema& schema, ServerConfig& server);

// [web]: the HTTPS console and JSON API (web/, docs/web.md). Off unless `listen` is set.
struct WebConfig {
  std::string listen;  // "IP:PORT" as written; "" = no console
  std::string listen_host;
  std::uint16_t listen_port = 0;
  // PEM certificate (chain) and its key; default <state_dir>/web.crt and web.key, which
  // `portcullis init` makes self-signed.
  std::filesystem::path tls_cert;
  std::filesystem::path tls_key;
  // How people reach the console, for the sign-in links `web-login` prints
  // ("https://bastion.example.com"); "" = https://<the address ssh reached>:<listen port>.
  std::string public_url;
  std::chrono::seconds session_ttl{8 * 3600};  // a browser session, from sign-in
  int threads = 2;                             // handlers of API requests (database work)
  int max_connections = 512;                   // open HTTPS and WebSocket connections

  bool operator==(const WebConfig&) const = default;
};
void declare_web_config(ConfigSchema& schema, WebConfig& web);

struct Config {
  std::filesystem::path file;  // absolute path of the file this was loaded from
  std::string sha256;          // of the file's bytes as loaded (hex): which file ran, in audits
  ServerConfig server;
  DatabaseConfig database;
  VaultConfig vault;
  RecordingConfig recording;
  LogConfig log;
  AccessConfig access;
  std::vector<PolicyRule> policies;    // in file order: first match wins
  std::vector<AlertRule> alert_rules;  // in file order: every rule that matches fires
  AlertsConfig alerts;
  UpstreamConfig upstream;
  RotationConfig rotation;
  OversightConfig oversight;
  MetricsConfig metrics;
  WebConfig web;
  OidcConfig oidc;  // [identity.oidc]
};

// Loads and validates a TOML config. Relative paths are resolved against the
// config file's folder. Unknown keys, wrong types and missing required keys
// throw ConfigError with "file:line: message".
Config load_config(const std::filesystem::path& file);
// The same for `text` as if it were the contents of `file` (which is not read): for checking a
// config before it is written, and for the fuzz tests.
Config load_config_text(std::string_view text, const std::filesystem::path& file);

}  // namespace portcullis
