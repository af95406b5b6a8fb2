// End-to-end test fixtures: a real PostgreSQL cluster, a real OpenSSH target, the real
// `portcullis` CLI and `portcullisd` daemon, and the real `ssh` client (also under a pty).
// Nothing here mocks a protocol: every helper starts or drives a real program.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/support/temp_dir.h"

namespace portcullis::e2e {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Where the programs under test were built, and the source tree (for configs, scripts).
fs::path bin_dir();
fs::path source_dir();

// Folders for fixtures and files: the one TempDir of the tests (tests/support/temp_dir.h).
using test::TempDir;

// A TCP port on 127.0.0.1 that nothing listens on right now.
std::uint16_t free_port();

// A random lower-case hex string, for unique names and throw-away secrets.
std::string random_hex(std::size_t bytes = 8);

// A time PostgreSQL printed as seconds since the epoch (extract(epoch FROM ...)).
std::chrono::system_clock::time_point from_epoch(const std::string& seconds);

std::string read_file(const fs::path& path);
void write_file(const fs::path& path, std::string_view contents);
// Lower-case hex SHA-256 of a file's contents (via sha256sum).
std::string sha256_file(const fs::path& path);
// A file of `size` pseudo-random bytes (from /dev/urandom).
void make_random_file(const fs::path& path, std::uintmax_t size);

// ---------------------------------------------------------------------------------------------
// Running programs

struct RunOptions {
  std::string stdin_data;                   // written to the child's stdin, then closed
  std::optional<fs::path> stdin_file;       // instead of stdin_data
  std::optional<fs::path> stdout_file;      // stdout goes here instead of into the result
  std::chrono::milliseconds timeout = 60s;  // then the child gets SIGKILL and timed_out is set
  std::vector<std::string> extra_env;       // "NAME=value" added to the child's environment
  std::optional<fs::path> cwd;              // working directory of the child

  // Chainable setters: run(argv, RunOptions().with_timeout(20s).with_stdin("x")).
  RunOptions& with_stdin(std::string data) {
    stdin_data = std::move(data);
    return *this;
  }
  RunOptions& with_stdin_file(fs::path file) {
    stdin_file = std::move(file);
    return *this;
  }
  RunOptions& with_stdout_file(fs::path file) {
    stdout_file = std::move(file);
    return *this;
  }
  RunOptions& with_timeout(std::chrono::milliseconds t) {
    timeout = t;
    return *this;
  }
  RunOptions& with_env(std::vector<std::string> env) {
    extra_env = std::move(env);
    return *this;
  }
  RunOptions& with_cwd(fs::path dir) {
    cwd = std::move(dir);
    return *this;
  }
};

struct RunResult {
  std::string out;
  std::string err;
  int exit_status = -1;  // exit code, or 128 + signal number when killed by a signal
  bool timed_out = false;
  std::chrono::milliseconds elapsed{0};
};

// Runs argv[0] (searched in PATH) with no shell in between and waits for it.
RunResult run(const std::vector<std::string>& argv, const RunOptions& options = {});
// The same, throwing std::runtime_error (with stderr) unless it exits 0.
std::string run_checked(const std::vector<std::string>& argv, const RunOptions& options = {});

// A long-running child in the background with stdout+stderr appended to `log_file`.
// The destructor sends SIGTERM, then SIGKILL after 5 s.
class BackgroundProcess {
 public:
  BackgroundProcess(const std::vector<std::string>& argv, const fs::path& log_file);
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  // Sends `signal`, waits up to `timeout` for the exit; returns the exit status
  // (128 + signal when killed), or nullopt if it did not exit in time.
  std::optional<int> stop(int signal, std::chrono::milliseconds timeout = 10s);

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

// Polls `condition` every 50 ms until it holds or `timeout` passes; returns whether it held.
template <typename Condition>
bool wait_until(Condition condition, std::chrono::milliseconds timeout);
bool wait_for_port(std::uint16_t port, std::chrono::milliseconds timeout);

// ---------------------------------------------------------------------------------------------
// PostgreSQL

// A private cluster: initdb into a temp dir, listening on a unix socket in that dir and on a
// loopback port. As root it runs as `nobody` (initdb refuses root). One per test process,
// shared by all tests in it; each test takes its own database.
class PostgresCluster {
 public:
  static PostgresCluster& shared();
  ~PostgresCluster();

  // Creates a database with a unique name and returns that name.
  std::string create_database(std::string_view prefix = "pcl");
  // libpq URI: "postgresql:///NAME?host=SOCKET_DIR&port=PORT&user=postgres".
  std::string url(std::string_view database) const;
  // Runs SQL with psql (unaligned, tuples only) and returns trimmed stdout; throws on error.
  std::string query(std::string_view database, std::string_view sql) const;
  void stop();   // fast shutdown; for "database down" tests
  void start();  // back up again on the same socket and port
  std::uint16_t port() const { return port_; }
  const fs::path& socket_dir() const { return dir_->path(); }
  // The postmaster's pid (from postmaster.pid); -1 when it is not running. Its backends are
  // its children: what the cluster costs is its own CPU, theirs and what it reaped.
  pid_t server_pid() const;

 private:
  PostgresCluster();
  std::vector<std::string> as_owner(std::vector<std::string> argv) const;
  fs::path data_dir() const;

  std::unique_ptr<TempDir> dir_;
  std::uint16_t port_ = 0;
  bool running_ = false;
};

// ---------------------------------------------------------------------------------------------
// The OpenSSH target

// The OS account the target logs the bastion in to. As root: "pcl-target", created if missing,
// with kTargetPassword as its password. Otherwise: the current user (password tests skip).
std::string target_account();
bool can_use_password_account();
extern const char* const kTargetPassword;

struct KeyPair {
  fs::path private_key;
  fs::path public_key() const { return fs::path(private_key.string() + ".pub"); }
  std::string public_text() const;  // "ssh-ed25519 AAAA... comment"
};
// ssh-keygen -t ed25519 -N '' into `path` (and path.pub), mode 0600.
KeyPair generate_key(const fs::path& path, std::string_view comment = "portcullis-e2e");

// /usr/sbin/sshd -D -e on 127.0.0.1:PORT with its own host key, authorized_keys file,
// PidFile and log, all in a temp dir.
class TargetSshd {
 public:
  TargetSshd() : TargetSshd("") {}
  // `extra_config`: sshd_config lines (e.g. "MaxStartups 2000\n") that take precedence over the
  // defaults: sshd keeps the first value it reads for a keyword.
  explicit TargetSshd(std::string_view extra_config);
  ~TargetSshd();

  std::uint16_t port() const { return port_; }
  // The listening sshd; each connection is served by a process forked from it.
  pid_t pid() const { return process_->pid(); }
  const KeyPair& host_key() const { return host_key_; }
  // A key pair in the target's authorized_keys, for the vaulted account.
  const KeyPair& account_key() const { return account_key_; }
  std::string account() const { return target_account(); }
  void authorize(const KeyPair& key);
  // A folder the target account may write to (for uploads).
  fs::path writable_dir() const { return dir_ / "home"; }
  std::string log() const;
  const fs::path& dir() const { return dir_.path(); }
  // Down (SIGTERM; connections are refused) and up again on the same port with the same keys:
  // a target that is away for a while.
  void stop();
  void restart();

 private:
  void launch();

  TempDir dir_;
  std::uint16_t port_ = 0;
  KeyPair host_key_;
  KeyPair account_key_;
  std::unique_ptr<BackgroundProcess> process_;
};

// ---------------------------------------------------------------------------------------------
// The bastion

// A config file + database + `portcullis init`, and portcullisd on demand.
class Bastion {
 public:
  // Writes the config, creates a fresh database in the shared cluster and runs `portcullis init`.
  Bastion();
  // A second node on the same database and vault key, with its own port and node name.
  Bastion(const Bastion& sibling, std::string_view node_name);
  // Appends TOML ([access], [[policy]], [alerts] ...) to the config; before start().
  void append_config(std::string_view toml);
  // Makes recording impossible (the spool folder cannot exist) and lets sessions carry on
  // unrecorded: a node that shows what recording costs. Before start().
  void record_nothing();
  // Adds keys to the [recording] table (e.g. "sync = \"filesystem\""). Before start().
  void add_recording_config(std::string_view toml_lines);
  // Adds keys to the [server] table (e.g. "max_sessions_per_user = 2"). Before start().
  void add_server_config(std::string_view toml_lines);
  // Turns the web console on: a self-signed certificate for 127.0.0.1 (key 0600) and [web]
  // listening on a free loopback port. Returns "https://127.0.0.1:PORT".
  std::string enable_web(std::string_view extra_toml_lines = "");
  // portcullisd runs on these CPUs only (every thread it starts inherits them); empty: wherever
  // its parent may run. Before start().
  void run_on_cpus(std::vector<int> cpus) { cpus_ = std::move(cpus); }
  ~Bastion();

  const fs::path& config_file() const { return config_file_; }
  const fs::path& dir() const { return dir_.path(); }
  std::uint16_t port() const { return port_; }
  const std::string& database() const { return database_; }
  fs::path vault_key_file() const;

  // `portcullis -c CONFIG ARGS...`.
  RunResult cli(const std::vector<std::string>& args, const RunOptions& options = {}) const;
  // The same, throwing unless it exits 0; returns trimmed stdout.
  std::string cli_checked(const std::vector<std::string>& args) const;

  // `user add NAME --key [--role R]...` with a fresh ed25519 key pair; returns the pair.
  KeyPair add_user(const std::string& name, const std::vector<std::string>& roles = {});
  // `target add NAME --host 127.0.0.1 --port P --host-key F`, F being the target's real host
  // key unless `pinned_host_key` names another public key file.
  void add_target(const std::string& name, const TargetSshd& target,
                  const std::optional<fs::path>& pinned_host_key = std::nullopt);
  // `account add TARGET LOGIN --key-file` with the target's account key.
  void add_key_account(const std::string& target_name, const TargetSshd& target);
  // `account add TARGET LOGIN --password-file` with kTargetPassword.
  void add_password_account(const std::string& target_name, const TargetSshd& target);
  // `grant add USER TARGET:LOGIN --for D --reason R`; returns the grant id.
  std::string add_grant(const std::string& user, const std::string& target_name,
                        const std::string& login, std::string_view duration = "30m",
                        std::string_view reason = "e2e test");

  // Starts portcullisd -c CONFIG (stderr to daemon.log) and waits until its port accepts.
  // `wrapper` runs it under another program: {"faketime", "-f", "-3m"}.
  void start(std::vector<std::string> wrapper = {});
  // SIGTERM; returns the exit status (nullopt if it hung). Generous: shutting down completes
  // the recording being shipped, which for 100 MiB under AddressSanitizer takes a while.
  std::optional<int> stop(std::chrono::milliseconds timeout = 30s);
  // SIGKILL, as a crash would; start() may follow.
  std::optional<int> kill();
  bool running();
  pid_t pid() const;        // of the running portcullisd, -1 if none
  std::string log() const;  // everything portcullisd wrote so far
  fs::path log_file() const { return dir_ / "daemon.log"; }

 private:
  void add_to_table(std::string_view table, std::string_view toml_lines);

  TempDir dir_;
  std::uint16_t port_ = 0;
  std::string database_;
  fs::path config_file_;
  std::vector<int> cpus_;
  std::unique_ptr<BackgroundProcess> daemon_;
};

// One user, one target with a key account, one grant (none if `grant_duration` is empty),
// and portcullisd started: the common case, ready to connect.
struct Gateway {
  explicit Gateway(std::string_view grant_duration = "30m");
  TargetSshd target;
  Bastion bastion;
  KeyPair user_key;
  std::string user = "alice";
  std::string target_name = "db01";
  std::string grant_id;
  std::string login() const { return user + ":" + target_name; }
};

// ---------------------------------------------------------------------------------------------
// Many clients at once

// A child whose stdin is a pipe the caller writes to, and whose stdout and stderr go (merged)
// to a pipe the caller reads; both ends non-blocking, so one poll loop can drive hundreds.
// The destructor SIGKILLs the child's process group if it still runs, and reaps it.
class PipedProcess {
 public:
  explicit PipedProcess(const std::vector<std::string>& argv);
  ~PipedProcess();
  PipedProcess(const PipedProcess&) = delete;
  PipedProcess& operator=(const PipedProcess&) = delete;

  pid_t pid() const { return pid_; }
  int input() const { return input_; }    // -1 once closed
  int output() const { return output_; }  // -1 once closed
  void close_input();
  void close_output();
  // Reaps the child if it has exited, without waiting; its status (128 + signal) or nullopt.
  std::optional<int> exit_status();

 private:
  pid_t pid_ = -1;
  int input_ = -1;
  int output_ = -1;
  std::optional<int> status_;
};

// ---------------------------------------------------------------------------------------------
// CPU placement: a benchmark that gives the daemon CPUs of its own runs everything else on the
// others, so what it measures is the daemon, not a queue for a shared core.

// "0", "1-3", "0,2-3" -> the CPU numbers, ascending; throws std::invalid_argument otherwise.
std::vector<int> parse_cpu_list(std::string_view list);
// The inverse: {0, 2, 3} -> "0,2,3".
std::string cpu_list_text(const std::vector<int>& cpus);
// The CPUs this process may run on now (sched_getaffinity).
std::vector<int> allowed_cpus();
// Pins the calling thread to `cpus`: every process and thread it starts afterwards inherits
// them. Call it before starting threads. Throws std::system_error when the kernel refuses.
void pin_to_cpus(const std::vector<int>& cpus);

// ---------------------------------------------------------------------------------------------
// A webhook receiver

// An HTTP/1.1 server on 127.0.0.1 that answers every request 200 and keeps what it got.
class WebhookSink {
 public:
  struct Request {
    std::string request_line;  // "POST /hook HTTP/1.1"
    std::string headers;       // lower-cased, as received
    std::string body;
  };
  WebhookSink();
  ~WebhookSink();
  WebhookSink(const WebhookSink&) = delete;
  WebhookSink& operator=(const WebhookSink&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url(std::string_view path = "/hook") const;
  std::vector<Request> requests() const;

 private:
  void serve();
  void answer(int client);

  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::vector<Request> requests_;
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------------
// The ssh client

// The options every client call uses: no config file, no known_hosts, no agent, key only.
std::vector<std::string> ssh_client_options(const fs::path& key, std::uint16_t port,
                                            std::string_view port_flag = "-p");

// ssh OPTIONS LOGIN@127.0.0.1 ARGS... ; `ssh_args` go before the destination (e.g. "-T"),
// `command` after it.
RunResult run_ssh(const fs::path& key, std::uint16_t port, const std::string& login,
                  const std::vector<std::string>& command, const RunOptions& options = {},
                  const std::vector<std::string>& ssh_args = {});

// A real `ssh -tt` (or any command) under a pseudo-terminal.
class PtySession {
 public:
  PtySession(const std::vector<std::string>& argv, unsigned short rows = 24,
             unsigned short cols = 80);
  ~PtySession();
  PtySession(const PtySession&) = delete;
  PtySession& operator=(const PtySession&) = delete;

  void write(std::string_view keys);
  // Reads until the output since the last successful expect matches `pattern` (ECMAScript
  // regex); returns the match, or nullopt on timeout or EOF.
  std::optional<std::string> expect(const std::string& pattern,
                                    std::chrono::milliseconds timeout = 10s);
  // TIOCSWINSZ on the master: the kernel sends SIGWINCH to the ssh client.
  void resize(unsigned short rows, unsigned short cols);
  // Waits for the child to exit; returns its status (128 + signal), nullopt on timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout = 10s);
  // Everything read so far (including what expect already consumed).
  const std::string& transcript() const { return transcript_; }

 private:
  bool read_some(std::chrono::milliseconds timeout);

  pid_t pid_ = -1;
  int master_ = -1;
  std::string transcript_;
  std::size_t consumed_ = 0;
  std::optional<int> status_;
};

// ssh -tt that may also answer a keyboard-interactive prompt (the TOTP code), for PtySession.
std::vector<std::string> ssh_mfa_command(const fs::path& key, std::uint16_t port,
                                         const std::string& login,
                                         const std::vector<std::string>& command = {});

// ssh -tt with ssh_client_options, for PtySession.
std::vector<std::string> ssh_tty_command(const fs::path& key, std::uint16_t port,
                                         const std::string& login,
                                         const std::vector<std::string>& command = {});

// ---------------------------------------------------------------------------------------------

template <typename Condition>
bool wait_until(Condition condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
}

}  // namespace portcullis::e2e
