#include "tests/support/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "common/unique_fd.h"

extern char** environ;

namespace portcullis::e2e {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

std::string trim(std::string text) {
  const auto not_space = [](unsigned char c) { return !std::isspace(c); };
  text.erase(text.begin(), std::find_if(text.begin(), text.end(), not_space));
  text.erase(std::find_if(text.rbegin(), text.rend(), not_space).base(), text.end());
  return text;
}

std::string join(const std::vector<std::string>& words) {
  std::string line;
  for (const auto& word : words) line += (line.empty() ? "" : " ") + word;
  return line;
}

// The exit status the way a shell reports it.
int decode_wait_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// argv and envp as the C arrays exec wants, built before fork: after fork in a threaded
// process only async-signal-safe calls are allowed.
class ExecArgs {
 public:
  ExecArgs(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env)
      : argv_strings_(argv) {
    for (char** e = environ; *e != nullptr; ++e) env_strings_.emplace_back(*e);
    env_strings_.insert(env_strings_.end(), extra_env.begin(), extra_env.end());
    for (auto& s : argv_strings_) argv_.push_back(s.data());
    argv_.push_back(nullptr);
    for (auto& s : env_strings_) envp_.push_back(s.data());
    envp_.push_back(nullptr);
  }
  // Only async-signal-safe calls: runs in the forked child.
  [[noreturn]] void exec() const {
    ::signal(SIGPIPE, SIG_DFL);  // SIG_IGN would survive exec
    ::execvpe(argv_[0], argv_.data(), envp_.data());
    static const char message[] = "exec failed\n";
    [[maybe_unused]] auto ignored = ::write(STDERR_FILENO, message, sizeof message - 1);
    ::_exit(127);
  }

 private:
  std::vector<std::string> argv_strings_;
  std::vector<std::string> env_strings_;
  std::vector<char*> argv_;
  std::vector<char*> envp_;
};

void ignore_sigpipe() {
  static const bool done = [] {
    ::signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)done;
}

UniqueFd open_file(const fs::path& path, int flags) {
  UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC, 0600));
  if (fd.get() < 0) throw_errno("cannot open " + path.string());
  return fd;
}

std::array<UniqueFd, 2> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2");
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Moves bytes between the parent and a running child until both output pipes close or the
// deadline passes; returns false on timeout.
bool pump(UniqueFd& stdin_pipe, std::string_view input, int out_fd, int err_fd, RunResult& result,
          Clock::time_point deadline) {
  std::size_t written = 0;
  int out = out_fd, err = err_fd;
  if (input.empty()) stdin_pipe.reset();
  char buffer[65536];
  while (out >= 0 || err >= 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    const int in = stdin_pipe.get();
    pollfd fds[3] = {{in, POLLOUT, 0}, {out, POLLIN, 0}, {err, POLLIN, 0}};
    if (::poll(fds, 3, static_cast<int>(std::min<long>(left.count(), 1000))) < 0) {
      if (errno == EINTR) continue;
      throw_errno("poll");
    }
    if (in >= 0 && (fds[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
      const ssize_t n = ::write(in, input.data() + written, input.size() - written);
      if (n > 0) written += static_cast<std::size_t>(n);
      if (n < 0 || written == input.size()) stdin_pipe.reset();
    }
    for (auto [fd, sink] : {std::pair{&out, &result.out}, std::pair{&err, &result.err}}) {
      const int index = fd == &out ? 1 : 2;
      if (*fd < 0 || !(fds[index].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = ::read(*fd, buffer, sizeof buffer);
      if (n > 0) {
        sink->append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EAGAIN) {
        *fd = -1;  // the UniqueFd owner closes it
      }
    }
  }
  stdin_pipe.reset();
  return true;
}

// Waits for `pid` until `deadline`; nullopt if it is still running then.
std::optional<int> wait_pid(pid_t pid, Clock::time_point deadline) {
  while (true) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return decode_wait_status(status);
    if (r < 0 && errno != EINTR) return -1;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(10ms);
  }
}

fs::path postgres_tool(const std::string& name) {
  std::vector<fs::path> candidates;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    if (fs::exists(entry.path() / "bin" / name)) candidates.push_back(entry.path() / "bin" / name);
  }
  if (candidates.empty()) return name;  // hope it is in PATH
  std::sort(candidates.begin(), candidates.end(), [](const fs::path& a, const fs::path& b) {
    return std::stoi(a.parent_path().parent_path().filename()) <
           std::stoi(b.parent_path().parent_path().filename());
  });
  return candidates.back();
}

bool is_root() { return ::geteuid() == 0; }

const char* const kTargetAccount = "pcl-target";

// Serializes changes to the shared OS test account across parallel test processes.
class AccountLock {
 public:
  AccountLock() : fd_(open_file("/tmp/portcullis-e2e-account.lock", O_RDWR | O_CREAT)) {
    while (::flock(fd_.get(), LOCK_EX) != 0) {
      if (errno != EINTR) throw_errno("flock");
    }
  }

 private:
  UniqueFd fd_;
};

void prepare_target_account() {
  AccountLock lock;
  if (run({"id", kTargetAccount}).exit_status != 0) {
    run_checked({"useradd", "--create-home", "--shell", "/bin/bash", kTargetAccount});
  }
  // A fresh useradd account is locked, and sshd refuses locked accounts even for keys.
  RunOptions options;
  options.stdin_data = std::string(kTargetAccount) + ":" + kTargetPassword + "\n";
  run_checked({"chpasswd"}, options);
}

}  // namespace

// Shared by every test process on the machine: they all use the same OS account. It is only
// reachable through the loopback sshd the harness starts (AllowUsers in its config).
const char* const kTargetPassword = "pcl-e2e-Vaulted-Password-9f41c7";

fs::path bin_dir() { return PORTCULLIS_BIN_DIR; }
fs::path source_dir() { return PORTCULLIS_SOURCE_DIR; }

// ---------------------------------------------------------------------------------------------

std::uint16_t free_port() {
  UniqueFd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (sock.get() < 0) throw_errno("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw_errno("bind");
  socklen_t len = sizeof addr;
  if (::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw_errno("getsockname");
  }
  return ntohs(addr.sin_port);
}

bool wait_for_port(std::uint16_t port, std::chrono::milliseconds timeout) {
  return wait_until(
      [port] {
        UniqueFd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(port);
        return ::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
      },
      timeout);
}

std::string random_hex(std::size_t bytes) {
  static std::random_device device;
  static const char digits[] = "0123456789abcdef";
  std::string text;
  for (std::size_t i = 0; i < bytes; ++i) {
    const unsigned value = device() & 0xff;
    text += digits[value >> 4];
    text += digits[value & 0xf];
  }
  return text;
}

std::chrono::system_clock::time_point from_epoch(const std::string& seconds) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::duration<double>(std::stod(seconds))));
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

void write_file(const fs::path& path, std::string_view contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string sha256_file(const fs::path& path) {
  const std::string out = run_checked({"sha256sum", "--", path.string()});
  return out.substr(0, out.find(' '));
}

void make_random_file(const fs::path& path, std::uintmax_t size) {
  std::ifstream random("/dev/urandom", std::ios::binary);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  std::vector<char> buffer(1 << 20);
  for (std::uintmax_t left = size; left > 0;) {
    const auto n = static_cast<std::streamsize>(std::min<std::uintmax_t>(left, buffer.size()));
    random.read(buffer.data(), n);
    out.write(buffer.data(), n);
    left -= static_cast<std::uintmax_t>(n);
  }
  if (!random || !out) throw std::runtime_error("cannot write random file " + path.string());
}

// ---------------------------------------------------------------------------------------------

RunResult run(const std::vector<std::string>& argv, const RunOptions& options) {
  ignore_sigpipe();
  const ExecArgs exec_args(argv, options.extra_env);
  auto [in_read, in_write] = make_pipe();
  auto [out_read, out_write] = make_pipe();
  auto [err_read, err_write] = make_pipe();
  UniqueFd stdin_source =
      options.stdin_file ? open_file(*options.stdin_file, O_RDONLY) : UniqueFd();
  UniqueFd stdout_sink = options.stdout_file
                             ? open_file(*options.stdout_file, O_WRONLY | O_CREAT | O_TRUNC)
                             : UniqueFd();
  const std::string cwd = options.cwd ? options.cwd->string() : std::string();

  const auto started = Clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork");
  if (pid == 0) {
    ::setpgid(0, 0);  // so a timeout can kill whatever the child started too
    ::dup2(stdin_source.get() >= 0 ? stdin_source.get() : in_read.get(), STDIN_FILENO);
    ::dup2(stdout_sink.get() >= 0 ? stdout_sink.get() : out_write.get(), STDOUT_FILENO);
    ::dup2(err_write.get(), STDERR_FILENO);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(127);
    exec_args.exec();
  }
  ::setpgid(pid, pid);
  in_read.reset();
  out_write.reset();
  err_write.reset();
  stdin_source.reset();
  stdout_sink.reset();
  for (int fd : {in_write.get(), out_read.get(), err_read.get()}) set_nonblocking(fd);

  RunResult result;
  const auto deadline = started + options.timeout;
  const bool finished =
      pump(in_write, options.stdin_data, out_read.get(), err_read.get(), result, deadline);
  std::optional<int> status = finished ? wait_pid(pid, deadline) : std::nullopt;
  if (!status) {
    result.timed_out = true;
    ::kill(-pid, SIGKILL);
    status = wait_pid(pid, Clock::now() + 10s);
  }
  ::kill(-pid, SIGKILL);  // leftovers of the child's process group, if any
  result.exit_status = status.value_or(-1);
  result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  return result;
}

std::string run_checked(const std::vector<std::string>& argv, const RunOptions& options) {
  const RunResult result = run(argv, options);
  if (result.exit_status != 0 || result.timed_out) {
    throw std::runtime_error("`" + join(argv) + "` failed with status " +
                             std::to_string(result.exit_status) +
                             (result.timed_out ? " (timed out)" : "") + ": " + result.err);
  }
  return result.out;
}

namespace {

// Starts argv in a process group of its own (so it can be killed with all it starts), with
// stdin from `in` and stdout and stderr to `out`.
pid_t spawn(const std::vector<std::string>& argv, int in, int out) {
  ignore_sigpipe();
  const ExecArgs exec_args(argv, {});
  const pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork");
  if (pid == 0) {
    ::setpgid(0, 0);
    ::dup2(in, STDIN_FILENO);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(out, STDERR_FILENO);
    exec_args.exec();
  }
  ::setpgid(pid, pid);
  return pid;
}

}  // namespace

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv,
                                     const fs::path& log_file) {
  UniqueFd log = open_file(log_file, O_WRONLY | O_CREAT | O_APPEND);
  UniqueFd null = open_file("/dev/null", O_RDONLY);
  pid_ = spawn(argv, null.get(), log.get());
}

BackgroundProcess::~BackgroundProcess() {
  if (!stop(SIGTERM, 5s)) stop(SIGKILL, 5s);
  ::kill(-pid_, SIGKILL);  // children it left behind (sshd's per-connection processes)
}

bool BackgroundProcess::running() {
  if (!status_) status_ = wait_pid(pid_, Clock::now());
  return !status_;
}

std::optional<int> BackgroundProcess::stop(int signal, std::chrono::milliseconds timeout) {
  if (running()) {
    ::kill(pid_, signal);
    status_ = wait_pid(pid_, Clock::now() + timeout);
  }
  return status_;
}

// ---------------------------------------------------------------------------------------------

PostgresCluster& PostgresCluster::shared() {
  static PostgresCluster cluster;
  return cluster;
}

PostgresCluster::PostgresCluster()
    : dir_(std::make_unique<TempDir>("portcullis-pg")), port_(free_port()) {
  if (is_root()) {
    // initdb refuses to run as root; the server runs as nobody and owns the whole folder.
    fs::permissions(dir_->path(),
                    fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
    run_checked({"chown", "nobody:", dir_->path().string()});
  }
  RunOptions options;
  options.cwd = dir_->path();
  options.timeout = 120s;
  run_checked(as_owner({postgres_tool("initdb"), "-D", data_dir().string(), "-U", "postgres",
                        "--auth=trust", "--no-sync", "--encoding=UTF8", "--locale=C"}),
              options);
  start();
}

PostgresCluster::~PostgresCluster() {
  if (!running_) return;
  RunOptions options;
  options.cwd = dir_->path();
  run(as_owner(
          {postgres_tool("pg_ctl"), "-D", data_dir().string(), "-m", "immediate", "-w", "stop"}),
      options);
}

fs::path PostgresCluster::data_dir() const { return dir_->path() / "data"; }

pid_t PostgresCluster::server_pid() const {
  std::ifstream pid_file(data_dir() / "postmaster.pid");
  pid_t pid = -1;
  if (!(pid_file >> pid)) return -1;
  return pid;
}

std::vector<std::string> PostgresCluster::as_owner(std::vector<std::string> argv) const {
  if (!is_root()) return argv;
  argv.insert(argv.begin(), {"runuser", "-u", "nobody", "--"});
  return argv;
}

void PostgresCluster::start() {
  RunOptions options;
  options.cwd = dir_->path();
  options.timeout = 60s;
  const std::string server_options = "-k " + dir_->path().string() + " -p " +
                                     std::to_string(port_) +
                                     " -c listen_addresses=127.0.0.1 -c fsync=off"
                                     " -c max_connections=200";
  run_checked(as_owner({postgres_tool("pg_ctl"), "-D", data_dir().string(), "-l",
                        (dir_->path() / "postgres.log").string(), "-o", server_options, "-w", "-t",
                        "60", "start"}),
              options);
  running_ = true;
}

void PostgresCluster::stop() {
  RunOptions options;
  options.cwd = dir_->path();
  run_checked(
      as_owner({postgres_tool("pg_ctl"), "-D", data_dir().string(), "-m", "fast", "-w", "stop"}),
      options);
  running_ = false;
}

std::string PostgresCluster::url(std::string_view database) const {
  return "postgresql:///" + std::string(database) + "?host=" + dir_->path().string() +
         "&port=" + std::to_string(port_) + "&user=postgres";
}

std::string PostgresCluster::query(std::string_view database, std::string_view sql) const {
  return trim(run_checked({"psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d",
                           url(database), "-c", std::string(sql)}));
}

std::string PostgresCluster::create_database(std::string_view prefix) {
  const std::string name = std::string(prefix) + "_" + random_hex(6);
  query("postgres", "CREATE DATABASE " + name);
  return name;
}

// ---------------------------------------------------------------------------------------------

std::string target_account() {
  if (!is_root()) return trim(run_checked({"id", "-un"}));
  static const bool prepared = [] {
    prepare_target_account();
    return true;
  }();
  (void)prepared;
  return kTargetAccount;
}

bool can_use_password_account() { return is_root(); }

std::string KeyPair::public_text() const { return trim(read_file(public_key())); }

KeyPair generate_key(const fs::path& path, std::string_view comment) {
  run_checked({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", std::string(comment), "-f",
               path.string()});
  return KeyPair{path};
}

TargetSshd::TargetSshd(std::string_view extra_config)
    : dir_("portcullis-sshd"), port_(free_port()) {
  const std::string account = target_account();
  // sshd reads authorized_keys as the target account: the folder must be traversable.
  fs::permissions(dir_.path(), fs::perms::owner_all | fs::perms::group_exec |
                                   fs::perms::group_read | fs::perms::others_exec |
                                   fs::perms::others_read);
  host_key_ = generate_key(dir_ / "ssh_host_ed25519_key", "target-host-key");
  account_key_ = generate_key(dir_ / "account_key", "vaulted-account-key");
  write_file(dir_ / "authorized_keys", "");
  authorize(account_key_);
  fs::create_directory(writable_dir());
  if (is_root()) run_checked({"chown", account + ":", writable_dir().string()});

  const fs::path config = dir_ / "sshd_config";
  write_file(config,
             "ListenAddress 127.0.0.1\n"
             "Port " +
                 std::to_string(port_) +
                 "\n"
                 "HostKey " +
                 host_key_.private_key.string() +
                 "\n"
                 "PidFile " +
                 (dir_ / "sshd.pid").string() +
                 "\n"
                 "AuthorizedKeysFile " +
                 (dir_ / "authorized_keys").string() +
                 "\n"
                 "AllowUsers " +
                 account +
                 "\n"
                 "UsePAM no\n"
                 "StrictModes no\n"
                 "PubkeyAuthentication yes\n"
                 "PasswordAuthentication yes\n"
                 "KbdInteractiveAuthentication no\n"
                 "PermitRootLogin no\n"
                 "PrintMotd no\n"
                 "PrintLastLog no\n"
                 "LogLevel VERBOSE\n"
                 // PCL_E2E_* lets a test prove the bastion, not the target, filters env.
                 "AcceptEnv LANG LC_* TERM PCL_E2E_*\n"
                 "AllowTcpForwarding yes\n"
                 "Subsystem sftp /usr/lib/openssh/sftp-server\n");
  // In front: sshd keeps the first value it reads for a keyword.
  write_file(config, std::string(extra_config) + read_file(config));
  fs::create_directories("/run/sshd");
  launch();
}

TargetSshd::~TargetSshd() = default;

void TargetSshd::launch() {
  process_ = std::make_unique<BackgroundProcess>(
      std::vector<std::string>{"/usr/sbin/sshd", "-D", "-e", "-f", (dir_ / "sshd_config").string()},
      dir_ / "sshd.log");
  if (!wait_for_port(port_, 10s) || !process_->running()) {
    throw std::runtime_error("the target sshd did not start: " + log());
  }
}

void TargetSshd::stop() { process_.reset(); }

void TargetSshd::restart() {
  stop();
  launch();
}

void TargetSshd::authorize(const KeyPair& key) {
  std::ofstream out(dir_ / "authorized_keys", std::ios::app);
  out << key.public_text() << "\n";
  fs::permissions(dir_ / "authorized_keys", fs::perms::owner_read | fs::perms::owner_write |
                                                fs::perms::group_read | fs::perms::others_read);
}

std::string TargetSshd::log() const { return read_file(dir_ / "sshd.log"); }

// ---------------------------------------------------------------------------------------------

namespace {

std::string bastion_config(std::uint16_t port, std::string_view node, const std::string& url) {
  return "[server]\n"
         "listen = \"127.0.0.1:" +
         std::to_string(port) +
         "\"\n"
         "host_key = \"state/ssh_host_ed25519_key\"\n"
         "node_name = \"" +
         std::string(node) +
         "\"\n"
         "[database]\n"
         "url = \"" +
         url +
         "\"\n"
         "[vault]\n"
         "key_file = \"state/vault.key\"\n"
         "[recording]\n"
         "spool_dir = \"state/spool\"\n"
         "[log]\n"
         // The most verbose level, so the secret-leak test sees everything.
         "level = \"trace\"\n";
}

}  // namespace

Bastion::Bastion()
    : dir_("portcullis-bastion"),
      port_(free_port()),
      database_(PostgresCluster::shared().create_database()),
      config_file_(dir_ / "portcullis.toml") {
  write_file(config_file_, bastion_config(port_, "e2e", PostgresCluster::shared().url(database_)));
  cli_checked({"init"});
}

Bastion::Bastion(const Bastion& sibling, std::string_view node_name)
    : dir_("portcullis-bastion"),
      port_(free_port()),
      database_(sibling.database_),
      config_file_(dir_ / "portcullis.toml") {
  write_file(config_file_,
             bastion_config(port_, node_name, PostgresCluster::shared().url(database_)));
  // The same vault key (to open the vaulted credentials); its own host and signing keys.
  fs::create_directories(dir_ / "state");
  fs::copy_file(sibling.vault_key_file(), vault_key_file());
  cli_checked({"init"});
}

void Bastion::append_config(std::string_view toml) {
  write_file(config_file_, read_file(config_file_) + "\n" + std::string(toml) + "\n");
}

void Bastion::record_nothing() {
  std::string config = read_file(config_file_);
  const std::string spool = "spool_dir = \"state/spool\"";
  config.replace(config.find(spool), spool.size(),
                 "spool_dir = \"/dev/null/spool\"\non_record_failure = \"continue\"");
  write_file(config_file_, config);
}

void Bastion::add_to_table(std::string_view table, std::string_view toml_lines) {
  std::string config = read_file(config_file_);
  const std::string header = "[" + std::string(table) + "]\n";
  config.insert(config.find(header) + header.size(), std::string(toml_lines) + "\n");
  write_file(config_file_, config);
}

void Bastion::add_recording_config(std::string_view toml_lines) {
  add_to_table("recording", toml_lines);
}

void Bastion::add_server_config(std::string_view toml_lines) { add_to_table("server", toml_lines); }

std::string Bastion::enable_web(std::string_view extra_toml_lines) {
  const fs::path cert = dir_ / "web.crt";
  const fs::path key = dir_ / "web.key";
  run_checked({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
               "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
               "subjectAltName=IP:127.0.0.1", "-keyout", key.string(), "-out", cert.string()});
  fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write);
  const std::uint16_t port = free_port();
  append_config("[web]\nlisten = \"127.0.0.1:" + std::to_string(port) + "\"\ntls_cert = \"" +
                cert.string() + "\"\ntls_key = \"" + key.string() + "\"\n" +
                std::string(extra_toml_lines));
  return "https://127.0.0.1:" + std::to_string(port);
}

// A daemon that crashed, leaked or hit undefined behaviour fails the test that ran it, even
// when every client saw the right thing.
Bastion::~Bastion() {
  const std::optional<int> status = stop();
  if (daemon_ && status != 0) {
    ADD_FAILURE() << "portcullisd did not exit cleanly on SIGTERM (status "
                  << (status ? std::to_string(*status) : "none: hung") << ")\n"
                  << log();
  }
  const std::string text = log();
  for (const char* report : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"}) {
    const auto at = text.find(report);
    if (at != std::string::npos) {
      ADD_FAILURE() << "sanitizer report in the portcullisd log:\n" << text.substr(at, 6000);
    }
  }
}

fs::path Bastion::vault_key_file() const { return dir_ / "state" / "vault.key"; }

RunResult Bastion::cli(const std::vector<std::string>& args, const RunOptions& options) const {
  std::vector<std::string> argv{(bin_dir() / "portcullis").string(), "-c", config_file_.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, options);
}

std::string Bastion::cli_checked(const std::vector<std::string>& args) const {
  const RunResult result = cli(args);
  if (result.exit_status != 0) {
    throw std::runtime_error("`portcullis " + join(args) + "` failed with status " +
                             std::to_string(result.exit_status) + ": " + result.err);
  }
  return trim(result.out);
}

KeyPair Bastion::add_user(const std::string& name, const std::vector<std::string>& roles) {
  KeyPair key = generate_key(dir_ / (name + "_ed25519"), name + "@e2e");
  std::vector<std::string> args{"user", "add", name, "--key", key.public_key().string()};
  for (const std::string& role : roles) {
    args.push_back("--role");
    args.push_back(role);
  }
  cli_checked(args);
  return key;
}

void Bastion::add_target(const std::string& name, const TargetSshd& target,
                         const std::optional<fs::path>& pinned_host_key) {
  cli_checked({"target", "add", name, "--host", "127.0.0.1", "--port",
               std::to_string(target.port()), "--host-key",
               pinned_host_key.value_or(target.host_key().public_key()).string()});
}

void Bastion::add_key_account(const std::string& target_name, const TargetSshd& target) {
  cli_checked({"account", "add", target_name, target.account(), "--key-file",
               target.account_key().private_key.string()});
}

void Bastion::add_password_account(const std::string& target_name, const TargetSshd& target) {
  const fs::path password_file = dir_ / "password";
  write_file(password_file, std::string(kTargetPassword) + "\n");
  fs::permissions(password_file, fs::perms::owner_read | fs::perms::owner_write);
  cli_checked(
      {"account", "add", target_name, target.account(), "--password-file", password_file.string()});
  fs::remove(password_file);
}

std::string Bastion::add_grant(const std::string& user, const std::string& target_name,
                               const std::string& login, std::string_view duration,
                               std::string_view reason) {
  return cli_checked({"grant", "add", user, target_name + ":" + login, "--for",
                      std::string(duration), "--reason", std::string(reason)});
}

void Bastion::start(std::vector<std::string> wrapper) {
  // taskset sets the affinity and execs the rest: the daemon's pid stays the one spawned.
  if (!cpus_.empty()) wrapper.insert(wrapper.begin(), {"taskset", "-c", cpu_list_text(cpus_)});
  wrapper.insert(wrapper.end(),
                 {(bin_dir() / "portcullisd").string(), "-c", config_file_.string()});
  daemon_ = std::make_unique<BackgroundProcess>(wrapper, log_file());
  const bool up =
      wait_until([this] { return !daemon_->running() || wait_for_port(port_, 100ms); }, 15s);
  if (!up || !daemon_->running()) {
    throw std::runtime_error("portcullisd did not start listening: " + log());
  }
}

std::optional<int> Bastion::stop(std::chrono::milliseconds timeout) {
  if (!daemon_) return std::nullopt;
  return daemon_->stop(SIGTERM, timeout);
}

std::optional<int> Bastion::kill() {
  if (!daemon_) return std::nullopt;
  const std::optional<int> status = daemon_->stop(SIGKILL);
  daemon_.reset();
  return status;
}

bool Bastion::running() { return daemon_ && daemon_->running(); }

pid_t Bastion::pid() const { return daemon_ ? daemon_->pid() : -1; }

std::string Bastion::log() const {
  std::error_code ec;
  return fs::exists(log_file(), ec) ? read_file(log_file()) : std::string();
}

Gateway::Gateway(std::string_view grant_duration) {
  user_key = bastion.add_user(user);
  bastion.add_target(target_name, target);
  bastion.add_key_account(target_name, target);
  if (!grant_duration.empty()) {
    grant_id = bastion.add_grant(user, target_name, target.account(), grant_duration);
  }
  bastion.start();
}

// ---------------------------------------------------------------------------------------------

PipedProcess::PipedProcess(const std::vector<std::string>& argv) {
  auto [in_read, in_write] = make_pipe();
  auto [out_read, out_write] = make_pipe();
  pid_ = spawn(argv, in_read.get(), out_write.get());
  set_nonblocking(in_write.get());
  set_nonblocking(out_read.get());
  input_ = in_write.release();
  output_ = out_read.release();
}

PipedProcess::~PipedProcess() {
  close_input();
  close_output();
  if (!exit_status()) {
    ::kill(-pid_, SIGKILL);
    wait_pid(pid_, Clock::now() + 5s);
  }
}

void PipedProcess::close_input() {
  if (input_ >= 0) ::close(std::exchange(input_, -1));
}

void PipedProcess::close_output() {
  if (output_ >= 0) ::close(std::exchange(output_, -1));
}

std::optional<int> PipedProcess::exit_status() {
  if (!status_) status_ = wait_pid(pid_, Clock::now());
  return status_;
}

// ---------------------------------------------------------------------------------------------

std::vector<int> parse_cpu_list(std::string_view list) {
  const auto bad = [&] {
    return std::invalid_argument("not a CPU list (like 0 or 1-3 or 0,2-3): \"" + std::string(list) +
                                 "\"");
  };
  const auto number = [&](std::string_view text) {
    if (text.empty() || text.size() > 4 || text.find_first_not_of("0123456789") != text.npos) {
      throw bad();
    }
    return std::stoi(std::string(text));
  };
  std::vector<int> cpus;
  std::string_view rest = list;
  while (true) {
    const std::size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    const std::size_t dash = item.find('-');
    const int first = number(item.substr(0, dash));
    const int last = dash == item.npos ? first : number(item.substr(dash + 1));
    if (last < first || last >= CPU_SETSIZE) throw bad();
    for (int cpu = first; cpu <= last; ++cpu) cpus.push_back(cpu);
    if (comma == rest.npos) break;
    rest.remove_prefix(comma + 1);
  }
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  return cpus;
}

std::string cpu_list_text(const std::vector<int>& cpus) {
  std::string text;
  for (int cpu : cpus) text += (text.empty() ? "" : ",") + std::to_string(cpu);
  return text;
}

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) {
    throw std::system_error(errno, std::generic_category(), "sched_getaffinity");
  }
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

void pin_to_cpus(const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : cpus) CPU_SET(cpu, &set);
  if (cpus.empty() || ::sched_setaffinity(0, sizeof set, &set) != 0) {
    throw std::system_error(cpus.empty() ? EINVAL : errno, std::generic_category(),
                            "cannot run on CPUs \"" + cpu_list_text(cpus) +
                                "\" (sched_setaffinity; `taskset -p $$` shows which CPUs this "
                                "shell may use)");
  }
}

// ---------------------------------------------------------------------------------------------

WebhookSink::WebhookSink() {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&address), size) != 0 ||
      ::listen(listener_, 16) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    throw std::runtime_error(std::string("webhook sink: ") + std::strerror(errno));
  }
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { serve(); });
}

WebhookSink::~WebhookSink() {
  stopping_ = true;
  thread_.join();
  ::close(listener_);
}

std::string WebhookSink::url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

std::vector<WebhookSink::Request> WebhookSink::requests() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_;
}

void WebhookSink::serve() {
  while (!stopping_) {
    pollfd ready{listener_, POLLIN, 0};
    if (::poll(&ready, 1, 100) <= 0) continue;
    const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    answer(client);
    ::close(client);
  }
}

void WebhookSink::answer(int client) {
  std::string received;
  std::size_t body_at = std::string::npos;
  std::size_t length = 0;
  char buffer[4096];
  while (body_at == std::string::npos || received.size() < body_at + length) {
    pollfd ready{client, POLLIN, 0};
    if (::poll(&ready, 1, 5000) <= 0) return;
    const ssize_t got = ::read(client, buffer, sizeof buffer);
    if (got <= 0) return;
    received.append(buffer, static_cast<std::size_t>(got));
    if (body_at == std::string::npos &&
        (body_at = received.find("\r\n\r\n")) != std::string::npos) {
      body_at += 4;
      std::string head = received.substr(0, body_at);
      std::transform(head.begin(), head.end(), head.begin(), ::tolower);
      std::smatch match;
      if (std::regex_search(head, match, std::regex("content-length: *([0-9]+)"))) {
        length = std::stoul(match[1]);
      }
    }
  }
  Request request;
  request.request_line = received.substr(0, received.find("\r\n"));
  request.headers = received.substr(0, body_at);
  std::transform(request.headers.begin(), request.headers.end(), request.headers.begin(),
                 ::tolower);
  request.body = received.substr(body_at, length);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    requests_.push_back(std::move(request));
  }
  const std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  [[maybe_unused]] const ssize_t sent = ::write(client, reply.data(), reply.size());
}

std::vector<std::string> ssh_client_options(const fs::path& key, std::uint16_t port,
                                            std::string_view port_flag) {
  return {"-F",
          "/dev/null",
          "-o",
          "StrictHostKeyChecking=no",
          "-o",
          "UserKnownHostsFile=/dev/null",
          "-o",
          "BatchMode=yes",
          "-o",
          "LogLevel=ERROR",
          "-o",
          "IdentitiesOnly=yes",
          "-o",
          "IdentityAgent=none",
          "-o",
          "ConnectTimeout=10",
          "-i",
          key.string(),
          std::string(port_flag),
          std::to_string(port)};
}

RunResult run_ssh(const fs::path& key, std::uint16_t port, const std::string& login,
                  const std::vector<std::string>& command, const RunOptions& options,
                  const std::vector<std::string>& ssh_args) {
  std::vector<std::string> argv{"ssh"};
  const auto client_options = ssh_client_options(key, port);
  argv.insert(argv.end(), client_options.begin(), client_options.end());
  argv.insert(argv.end(), ssh_args.begin(), ssh_args.end());
  argv.push_back(login + "@127.0.0.1");
  argv.insert(argv.end(), command.begin(), command.end());
  return run(argv, options);
}

std::vector<std::string> ssh_mfa_command(const fs::path& key, std::uint16_t port,
                                         const std::string& login,
                                         const std::vector<std::string>& command) {
  std::vector<std::string> argv = ssh_tty_command(key, port, login, command);
  std::replace(argv.begin(), argv.end(), std::string("BatchMode=yes"), std::string("BatchMode=no"));
  const std::vector<std::string> extra{"-o",
                                       "PreferredAuthentications=publickey,keyboard-interactive",
                                       "-o", "NumberOfPasswordPrompts=1"};
  argv.insert(argv.begin() + 2, extra.begin(), extra.end());
  return argv;
}

std::vector<std::string> ssh_tty_command(const fs::path& key, std::uint16_t port,
                                         const std::string& login,
                                         const std::vector<std::string>& command) {
  std::vector<std::string> argv{"ssh", "-tt"};
  const auto client_options = ssh_client_options(key, port);
  argv.insert(argv.end(), client_options.begin(), client_options.end());
  argv.push_back(login + "@127.0.0.1");
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

// ---------------------------------------------------------------------------------------------

PtySession::PtySession(const std::vector<std::string>& argv, unsigned short rows,
                       unsigned short cols) {
  ignore_sigpipe();
  const ExecArgs exec_args(argv, {"TERM=xterm"});
  winsize size{};
  size.ws_row = rows;
  size.ws_col = cols;
  pid_ = ::forkpty(&master_, nullptr, nullptr, &size);
  if (pid_ < 0) throw_errno("forkpty");
  if (pid_ == 0) exec_args.exec();
  ::fcntl(master_, F_SETFD, FD_CLOEXEC);
  set_nonblocking(master_);
}

PtySession::~PtySession() {
  if (!status_) {
    ::kill(pid_, SIGKILL);
    wait_pid(pid_, Clock::now() + 5s);
  }
  ::close(master_);
}

void PtySession::write(std::string_view keys) {
  while (!keys.empty()) {
    const ssize_t n = ::write(master_, keys.data(), keys.size());
    if (n < 0 && errno == EAGAIN) {
      pollfd fd{master_, POLLOUT, 0};
      ::poll(&fd, 1, 1000);
      continue;
    }
    if (n < 0) throw_errno("write to pty");
    keys.remove_prefix(static_cast<std::size_t>(n));
  }
}

bool PtySession::read_some(std::chrono::milliseconds timeout) {
  pollfd fd{master_, POLLIN, 0};
  if (::poll(&fd, 1, static_cast<int>(timeout.count())) <= 0) return false;
  char buffer[8192];
  const ssize_t n = ::read(master_, buffer, sizeof buffer);
  if (n <= 0) return false;  // EIO once the child side is gone
  transcript_.append(buffer, static_cast<std::size_t>(n));
  return true;
}

std::optional<std::string> PtySession::expect(const std::string& pattern,
                                              std::chrono::milliseconds timeout) {
  const std::regex re(pattern);
  const auto deadline = Clock::now() + timeout;
  while (true) {
    std::smatch match;
    const std::string unread = transcript_.substr(consumed_);
    if (std::regex_search(unread, match, re)) {
      consumed_ += static_cast<std::size_t>(match.position(0) + match.length(0));
      return match.str(0);
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    if (!read_some(std::min<std::chrono::milliseconds>(left, 200ms)) && status_) {
      return std::nullopt;
    }
    if (!status_) status_ = wait_pid(pid_, Clock::now());
  }
}

void PtySession::resize(unsigned short rows, unsigned short cols) {
  winsize size{};
  size.ws_row = rows;
  size.ws_col = cols;
  if (::ioctl(master_, TIOCSWINSZ, &size) != 0) throw_errno("TIOCSWINSZ");
}

std::optional<int> PtySession::wait_exit(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!status_) {
    // Keep reading so the child never blocks on a full pty buffer.
    read_some(20ms);
    status_ = wait_pid(pid_, Clock::now());
    if (!status_ && Clock::now() >= deadline) return std::nullopt;
  }
  while (read_some(20ms)) {
  }
  return status_;
}

}  // namespace portcullis::e2e
