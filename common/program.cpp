#include "common/program.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <string_view>
#include <system_error>
#include <utility>

#include "common/unique_fd.h"

namespace portcullis {
namespace {

using Clock = std::chrono::steady_clock;

// Enough to empty a full pipe (64 KiB) once the program has exited.
constexpr int kReadsAfterExit = 16;
// What Child reports when someone else reaped the program (SIGCHLD set to SIG_IGN).
constexpr int kStatusUnknown = -1;
// How often the deadlines are checked while the pipes are quiet, and, once the program has
// closed them, how often we look whether it has exited.
constexpr int kPollMilliseconds = 100;
constexpr int kReapPollMilliseconds = 5;

std::system_error os_error(int code, const std::string& what) {
  return std::system_error(code, std::generic_category(), what);
}

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

// Close-on-exec, so other commands started meanwhile (by any thread) never inherit it;
// posix_spawn's dup2 clears the flag on the child's copies.
Pipe make_pipe() {
  std::array<int, 2> fds{};
  if (::pipe2(fds.data(), O_CLOEXEC) != 0) throw os_error(errno, "cannot create a pipe");
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

void set_nonblocking(const UniqueFd& fd) {
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    throw os_error(errno, "cannot make a pipe non-blocking");
  }
}

class SpawnActions {
 public:
  SpawnActions() { posix_spawn_file_actions_init(&actions_); }
  SpawnActions(const SpawnActions&) = delete;
  SpawnActions& operator=(const SpawnActions&) = delete;
  ~SpawnActions() { posix_spawn_file_actions_destroy(&actions_); }
  posix_spawn_file_actions_t* get() { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_{};
};

class SpawnAttributes {
 public:
  SpawnAttributes() { posix_spawnattr_init(&attributes_); }
  SpawnAttributes(const SpawnAttributes&) = delete;
  SpawnAttributes& operator=(const SpawnAttributes&) = delete;
  ~SpawnAttributes() { posix_spawnattr_destroy(&attributes_); }
  posix_spawnattr_t* get() { return &attributes_; }

 private:
  posix_spawnattr_t attributes_{};
};

// The program runs as a session leader, so killing its process group also ends whatever it
// started. If it is still running when this goes away, it is killed; it is always reaped.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (!status_) kill_and_reap();
  }

  const std::optional<int>& status() const { return status_; }

  void try_reap() { reap(WNOHANG); }

  void kill_and_reap() {
    ::kill(-pid_, SIGKILL);
    reap(0);
  }

 private:
  void reap(int options) {
    int status = 0;
    pid_t done = 0;
    do {
      done = ::waitpid(pid_, &status, options);
    } while (done < 0 && errno == EINTR);
    if (done == pid_) status_ = status;
    if (done < 0) status_ = kStatusUnknown;  // ECHILD: gone, but not through us
  }

  pid_t pid_;
  std::optional<int> status_;
};

// Starts the program with only the environment given, in "/", with only stdin, stdout and
// stderr open and default signal handling, whatever the daemon has set up for itself.
pid_t spawn(const Program& program, int in, int out, int err) {
  SpawnActions actions;
  posix_spawn_file_actions_adddup2(actions.get(), in, STDIN_FILENO);
  posix_spawn_file_actions_adddup2(actions.get(), out, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(actions.get(), err, STDERR_FILENO);
  posix_spawn_file_actions_addclosefrom_np(actions.get(), STDERR_FILENO + 1);
  posix_spawn_file_actions_addchdir_np(actions.get(), "/");

  SpawnAttributes attributes;
  sigset_t none;
  sigset_t all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(attributes.get(), &none);
  posix_spawnattr_setsigdefault(attributes.get(), &all);
  posix_spawnattr_setflags(attributes.get(),
                           POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  // posix_spawn wants mutable C strings: copies that live until it returns.
  std::vector<std::string> argv_copy = program.argv;
  std::vector<std::string> environment_copy = program.environment;
  std::vector<char*> argv;
  std::vector<char*> environment;
  argv.reserve(argv_copy.size() + 1);
  environment.reserve(environment_copy.size() + 1);
  for (std::string& arg : argv_copy) argv.push_back(arg.data());
  for (std::string& variable : environment_copy) environment.push_back(variable.data());
  argv.push_back(nullptr);
  environment.push_back(nullptr);

  pid_t pid = 0;
  const int code = ::posix_spawn(&pid, program.argv.at(0).c_str(), actions.get(), attributes.get(),
                                 argv.data(), environment.data());
  if (code != 0) throw os_error(code, "cannot start " + program.argv.at(0));
  return pid;
}

// The worker thread blocks SIGPIPE, so writing to a stdin the program has closed fails with
// EPIPE and leaves the signal pending on this thread; take it off again.
void discard_pending_sigpipe() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  const timespec no_wait{};
  while (::sigtimedwait(&set, nullptr, &no_wait) == SIGPIPE) {
  }
}

// The input on its way to the program's stdin, then EOF.
class Input {
 public:
  Input(UniqueFd fd, std::string_view bytes) : fd_(std::move(fd)), rest_(bytes) {}
  const UniqueFd& fd() const { return fd_; }

  void write_some() {
    const ssize_t n = ::write(fd_.get(), rest_.data(), rest_.size());
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n < 0) {
      // The program does not read its stdin (EPIPE): that is its choice.
      if (errno == EPIPE) discard_pending_sigpipe();
      fd_.reset();
      return;
    }
    rest_.remove_prefix(static_cast<std::size_t>(n));
    if (rest_.empty()) fd_.reset();
  }

 private:
  UniqueFd fd_;
  std::string_view rest_;
};

// One of the program's outputs, of which the first `kept` bytes are kept.
class Output {
 public:
  Output(UniqueFd fd, std::size_t kept) : fd_(std::move(fd)), room_(kept) {}
  const UniqueFd& fd() const { return fd_; }
  const std::string& kept() const { return kept_; }

  // Reads what is there now, at most `max_reads` times so that a program that never stops
  // writing cannot keep us from its time limit; closes at EOF.
  void read_available(int max_reads) {
    std::array<char, 4096> buffer{};
    for (int i = 0; i < max_reads && fd_; ++i) {
      const ssize_t n = ::read(fd_.get(), buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0) {
        fd_.reset();
        return;
      }
      kept_.append(buffer.data(), std::min(room_ - kept_.size(), static_cast<std::size_t>(n)));
    }
  }

 private:
  UniqueFd fd_;
  std::size_t room_;
  std::string kept_;
};

// Waits for whichever of the pipes is ready, or a moment when all are closed.
void poll_pipes(Input& input, Output& out, Output& err) {
  std::array<pollfd, 3> fds{};
  nfds_t count = 0;
  if (input.fd()) fds[count++] = {input.fd().get(), POLLOUT, 0};
  for (const Output* output : {&out, &err}) {
    if (output->fd()) fds[count++] = {output->fd().get(), POLLIN, 0};
  }
  if (::poll(fds.data(), count, count == 0 ? kReapPollMilliseconds : kPollMilliseconds) <= 0) {
    return;
  }
  if (input.fd()) input.write_some();
  out.read_available(1);
  err.read_available(1);
}

}  // namespace

ProgramRun run_program(const Program& program,
                       const std::function<Clock::time_point()>& time_limit) {
  Pipe in = make_pipe();
  Pipe out = make_pipe();
  Pipe err = make_pipe();
  for (const UniqueFd* fd : {&in.write, &out.read, &err.read}) set_nonblocking(*fd);
  Child child(spawn(program, in.read.get(), out.write.get(), err.write.get()));
  in.read.reset();
  out.write.reset();
  err.write.reset();

  Input input(std::move(in.write), program.input);
  Output stdout_of(std::move(out.read), program.kept);
  Output stderr_of(std::move(err.read), program.kept);
  ProgramRun result;
  while (!child.status()) {
    if (Clock::now() >= time_limit()) {
      child.kill_and_reap();
      result.out = stdout_of.kept();
      result.err = stderr_of.kept();
      return result;
    }
    poll_pipes(input, stdout_of, stderr_of);
    child.try_reap();
  }
  // Whatever it wrote before it exited is in the pipes; its background children, if any, may
  // hold them open, and are not waited for.
  stdout_of.read_available(kReadsAfterExit);
  stderr_of.read_available(kReadsAfterExit);
  result.status = child.status();
  result.out = stdout_of.kept();
  result.err = stderr_of.kept();
  return result;
}

std::string describe_wait_status(int status) {
  if (status == kStatusUnknown) return "exit status unknown (reaped elsewhere)";
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "unknown wait status " + std::to_string(status);
}

}  // namespace portcullis
