// Public interface of the `common` library: configuration, durations, times, logging, files.
// No project dependencies; every other library may include this header.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portcullis {

// A configuration problem, already formatted as "FILE:LINE: what is wrong"
// (or "FILE: what is wrong" when no line applies, e.g. a missing file).
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ServerConfig {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 2222;
  std::filesystem::path host_key;  // absolute after loading
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
  int worker_threads = 4;                     // blocking work on the database: logins, MFA
  // Logins to targets, each blocking a thread for at most upstream_timeout; a target that
  // never answers costs one of these, never a worker_threads thread.
  int upstream_threads = 32;

  // Connections not yet authenticated, as OpenSSH's MaxStartups "start:rate:full".
  struct StartupLimit {
    int start = 10;
    int rate = 30;  // percent
    int full = 100;
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
};

struct DatabaseConfig {
  std::string url;  // libpq URI
  // Absolute after loading; default <config dir>/state/database.journal. What the daemon owes
  // the database (audit rows, session ends) is written here first, so an outage loses nothing.
  std::filesystem::path journal_file;
};

struct VaultConfig {
  std::filesystem::path key_file;  // absolute after loading
};

enum class OnRecordFailure { terminate, continue_unrecorded };

// How written chunks are made durable: each spool file with its own fdatasync, or the writes of
// every session together with one syncfs of the spool folder's filesystem.
enum class SpoolSync { file, filesystem };

struct RecordingConfig {
  std::filesystem::path spool_dir;  // absolute after loading
  // Absolute after loading; default <config dir>/state/signing.key.
  std::filesystem::path signing_key;
  bool record_input = true;  // keystrokes; a [[policy]] may override it
  OnRecordFailure on_record_failure = OnRecordFailure::terminate;
  SpoolSync sync = SpoolSync::file;
};

struct AccessConfig {
  std::chrono::seconds approval_timeout{24 * 3600};  // pending requests expire after this
  std::vector<std::chrono::seconds> warn_before{std::chrono::seconds(300),
                                                std::chrono::seconds(60)};
  std::string totp_issuer = "Portcullis";  // shown by authenticator apps
};

enum class ApprovalMode { automatic, single, dual };
enum class MfaStep { request, approve, connect };

// One [[policy]] table as written. Patterns, hours and time zones are checked when the policy
// is compiled (access::Policy), which reports problems with `line`.
struct PolicyRule {
  std::size_t line = 0;  // where the [[policy]] header is
  std::string name;
  std::vector<std::string> targets;  // globs on target names ('*', '?', '[...]')
  std::vector<std::string> roles;    // requester must hold one; empty = anyone
  std::chrono::seconds max_duration{3600};
  bool require_ticket = false;
  std::string ticket_pattern;  // ECMAScript regex the whole ticket must match; "" = any
  std::size_t ticket_pattern_line = 0;
  std::string hours;  // "Mon-Fri 08:00-18:00 Europe/Paris"; "" = any time
  std::size_t hours_line = 0;
  // Whether the hours bound only connecting, or also end live sessions when they end.
  enum class EnforceHours { connect, session };
  EnforceHours enforce_hours = EnforceHours::session;
  ApprovalMode approval = ApprovalMode::single;
  std::vector<std::string> approver_roles;
  std::vector<MfaStep> mfa;
  bool break_glass = false;
  std::chrono::seconds break_glass_max{3600};
  bool alert_on_approval = false;    // approvals under this rule raise an alert
  std::optional<bool> record_input;  // overrides [recording] record_input
};

struct AlertsConfig {
  std::string webhook;  // http(s) URL that receives each alert as a JSON POST; "" = none
  std::string command;  // run by /bin/sh -c with the alert JSON on stdin; "" = none
  bool syslog = false;  // also log each alert to syslog (LOG_AUTHPRIV, warning)
  // Channels ("syslog", "webhook", "command") that also get every audit row as it is written,
  // with its hash, so a SIEM holds a copy the database's superuser cannot reach.
  std::vector<std::string> audit_stream;
  int webhook_attempts = 6;                  // first try + retries, with doubling backoff
  std::chrono::seconds webhook_timeout{10};  // per attempt
};

struct LogConfig {
  std::string level = "info";  // trace, debug, info, warn, error
};

struct Config {
  std::filesystem::path file;  // absolute path of the file this was loaded from
  ServerConfig server;
  DatabaseConfig database;
  VaultConfig vault;
  RecordingConfig recording;
  LogConfig log;
  AccessConfig access;
  std::vector<PolicyRule> policies;  // in file order: first match wins
  AlertsConfig alerts;
};

// The config file to use: `cli_value` (from -c) if given, else $PORTCULLIS_CONFIG,
// else /etc/portcullis/portcullis.toml.
std::filesystem::path resolve_config_path(const std::optional<std::string>& cli_value);

// Loads and validates a TOML config. Relative paths are resolved against the
// config file's folder. Unknown keys, wrong types and missing required keys
// throw ConfigError with "file:line: message".
Config load_config(const std::filesystem::path& file);
// The same for `text` as if it were the contents of `file` (which is not read): for checking a
// config before it is written, and for the fuzz tests.
Config load_config_text(std::string_view text, const std::filesystem::path& file);

// "30s", "15m", "8h", "1h30m", "2d". Throws std::invalid_argument with a clear message;
// zero, negative and longer than 3660d (ten years) are refused.
std::chrono::seconds parse_duration(std::string_view text);
// Inverse of parse_duration for display: 5400s -> "1h30m", 0 -> "0s".
std::string format_duration(std::chrono::seconds d);

// RFC 3339 UTC with second precision: "2026-11-25T05:00:00Z".
std::string format_rfc3339(std::chrono::system_clock::time_point t);

// Parses "HOST:PORT" ("[::1]:22" for IPv6). Throws std::invalid_argument.
struct HostPort {
  std::string host;
  std::uint16_t port;
};
HostPort parse_host_port(std::string_view text);

// Collapses every run of whitespace (newlines included) into one space and trims the ends,
// so a library's multi-line message prints as one line.
std::string one_line(std::string_view text);

// Text from outside (a peer's packet, a requester's reason, a recorded line) is UTF-8 only if
// checked: overlong forms, surrogates and code points above U+10FFFF are invalid.
bool is_valid_utf8(std::string_view text);

// Valid UTF-8 for logs, JSON and the database: every byte that is not part of a valid UTF-8
// sequence becomes the four characters "\xNN". Valid input comes back unchanged.
std::string escape_invalid_utf8(std::string_view text);

// Text one person wrote, made inert before it is shown on another person's terminal: C0
// controls other than tab and newline, DEL, ESC and C1 controls (U+0080-U+009F) are written
// visibly ("\x1b", "\u009b"), and so is every byte that is not valid UTF-8 ("\xff"). Printable
// text, tabs and newlines pass unchanged.
std::string inert_text(std::string_view text);
// The same for a value shown on one line (a table cell, a log field): tab, CR and newline are
// escaped too ("\t", "\r", "\n").
std::string inert_line(std::string_view text);

// Lower-case hex of raw bytes (a hash, a signature): to_hex("\x01\xab") == "01ab".
std::string to_hex(std::string_view bytes);

// The items with `separator` between them: join({"a", "b"}, ", ") == "a, b".
std::string join(const std::vector<std::string>& items, std::string_view separator);

// Sets up spdlog's default logger (stderr, UTC, "%Y-%m-%dT%H:%M:%S.%eZ %l %v"); may be called
// again. Throws std::invalid_argument for a level other than trace, debug, info, warn, error.
void init_logging(std::string_view level);

// No core file and no ptrace by other processes of the same user (RLIMIT_CORE 0,
// PR_SET_DUMPABLE 0): called by portcullisd and every CLI command that holds a secret key, so
// the keys in memory never reach a disk. Throws std::system_error.
void disable_core_dumps();

// Writes `contents` to `path` created with mode 0600 (fails if it exists), fsynced. Throws
// std::system_error ("cannot create PATH: File exists", code std::errc::file_exists).
void write_private_file(const std::filesystem::path& path, std::string_view contents);

// Owns a file descriptor (-1: none) and closes it.
class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1);

 private:
  int fd_;
};

// Writes all of `bytes` to `fd`, retrying short writes. Throws std::system_error ("cannot write
// PATH: reason").
void write_all(const UniqueFd& fd, std::string_view bytes, const std::filesystem::path& path);

// fsync of a folder: makes a new directory entry itself durable, not only the file's contents.
// Throws std::system_error.
void sync_directory(const std::filesystem::path& dir);

}  // namespace portcullis
