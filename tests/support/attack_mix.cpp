#include "tests/support/attack_mix.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <optional>

namespace portcullis::e2e {
namespace {

using Clock = std::chrono::steady_clock;

// Never finished: "SSH-2.0-" and then one byte a second for longer than any login grace time.
constexpr std::string_view kSlowBanner = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3";
constexpr std::chrono::seconds kTick{1};
// A login to the dead target that ends at once (refused, say) is not restarted in a tight loop.
constexpr std::chrono::seconds kStuckRestartGap{1};
constexpr std::size_t kMaxKeptOutput = 4096;

std::string loopback(int subnet, int index) {
  return "127.0." + std::to_string(subnet) + "." + std::to_string(1 + index % 250);
}

// A non-blocking connection from `from` to 127.0.0.1:port, or -1.
int open_from(const std::string& from, std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  // Leave the choice of the local port to connect(): thousands of short connections from one
  // address would otherwise run out of ports bound without a peer.
  const int one = 1;
  ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  ::inet_pton(AF_INET, from.c_str(), &local.sin_addr);
  sockaddr_in server{};
  server.sin_family = AF_INET;
  server.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &server.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
      (::connect(fd, reinterpret_cast<sockaddr*>(&server), sizeof server) != 0 &&
       errno != EINPROGRESS)) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Everything a drained descriptor had; false once it reached its end (or failed).
bool drain(int fd, std::string* kept) {
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      if (kept != nullptr && kept->size() < kMaxKeptOutput) {
        kept->append(buffer, static_cast<std::size_t>(n));
      }
      continue;
    }
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

}  // namespace

DeadTarget::DeadTarget() {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  socklen_t size = sizeof address;
  // The backlog holds every connection made to it during a run: none is ever accepted.
  if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), size) != 0 ||
      ::listen(fd_, SOMAXCONN) != 0 ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    throw std::runtime_error("cannot listen for the dead target");
  }
  port_ = ntohs(address.sin_port);
}

DeadTarget::~DeadTarget() { ::close(fd_); }

// ---------------------------------------------------------------------------------------------

struct AttackMix::Impl {
  struct Loris {
    int fd = -1;
    std::size_t sent = 0;
    Clock::time_point next;
  };
  struct Child {
    std::unique_ptr<PipedProcess> process;
    std::string output;
    std::optional<std::size_t> stuck;  // index into plan.stuck_logins; none for a guesser
  };

  AttackMix& mix;
  const AttackPlan& plan;
  const Clock::time_point began = Clock::now();
  std::vector<Loris> lorises;
  std::vector<Child> children;
  std::vector<Clock::time_point> stuck_next;  // when each stuck login may (re)start
  std::vector<bool> stuck_running;
  std::uint64_t guesses_launched = 0;
  int guessers_running = 0;
  Clock::duration guess_interval{};

  Impl(AttackMix& owner)
      : mix(owner),
        plan(owner.plan_),
        lorises(static_cast<std::size_t>(std::max(0, plan.slowloris))),
        stuck_next(plan.stuck_logins.size()),
        stuck_running(plan.stuck_logins.size(), false) {
    // Spread over a tick, as the connections of a real slowloris drift apart.
    for (std::size_t i = 0; i < lorises.size(); ++i) {
      lorises[i].next = began + std::chrono::duration_cast<Clock::duration>(kTick) *
                                    static_cast<long>(i) / static_cast<long>(lorises.size());
    }
    for (std::size_t i = 0; i < stuck_next.size(); ++i) {
      stuck_next[i] = began + std::chrono::milliseconds(20) * static_cast<long>(i);
    }
    const int connections = std::max(1, plan.key_attempts / std::max(1, plan.keys_per_connection));
    guess_interval = plan.guessing_time / connections;
  }

  ~Impl() {
    for (Loris& loris : lorises) {
      if (loris.fd >= 0) ::close(loris.fd);
    }
  }

  template <typename Change>
  void count(Change change) {
    std::lock_guard lock(mix.mutex_);
    change(mix.counts_);
  }

  void tick_lorises(Clock::time_point now) {
    for (std::size_t i = 0; i < lorises.size(); ++i) {
      Loris& loris = lorises[i];
      if (loris.next > now) continue;
      loris.next += kTick;
      if (loris.fd < 0) {
        loris.fd = open_from(loopback(1, i % std::max(1, plan.slowloris_addresses)), plan.port);
        loris.sent = 0;
        if (loris.fd >= 0) {
          count([](AttackCounts& c) {
            ++c.slowloris_opened;
            ++c.slowloris_open;
          });
        }
      }
      if (loris.fd < 0) continue;
      const char byte = loris.sent < kSlowBanner.size() ? kSlowBanner[loris.sent] : 'x';
      // Still connecting, or the server's buffer is full: the byte goes at the next tick.
      if (::send(loris.fd, &byte, 1, MSG_NOSIGNAL) == 1) ++loris.sent;
    }
  }

  void close_loris(Loris& loris) {
    ::close(loris.fd);
    loris.fd = -1;
    count([](AttackCounts& c) {
      ++c.slowloris_closed;
      --c.slowloris_open;
    });
  }

  bool guessing_done() {
    std::lock_guard lock(mix.mutex_);
    return mix.counts_.key_attempts >= static_cast<std::uint64_t>(plan.key_attempts);
  }

  std::vector<std::string> guesser_argv() const {
    // The harness's client options with the first key, then the other keys.
    std::vector<std::string> argv{"ssh"};
    const std::vector<std::string> options = ssh_client_options(mix.unknown_keys_.at(0), plan.port);
    argv.insert(argv.end(), options.begin(), options.end());
    argv.insert(argv.end(), {"-o", "PreferredAuthentications=publickey"});
    for (std::size_t i = 1; i < mix.unknown_keys_.size(); ++i) {
      argv.insert(argv.end(), {"-i", mix.unknown_keys_[i].string()});
    }
    const int address = static_cast<int>(guesses_launched % std::max(1, plan.guesser_addresses));
    argv.insert(argv.end(),
                {"-b", loopback(2, address), plan.guessed_login + "@127.0.0.1", "true"});
    return argv;
  }

  // Guessers start at an even pace until enough keys were refused; a connection the server
  // closed before authentication is made up for by a later one.
  void launch(Clock::time_point now) {
    const bool may_guess = plan.key_attempts > 0 && guessers_running < plan.guessers &&
                           now >= began + guess_interval * static_cast<long>(guesses_launched);
    if (may_guess && !guessing_done()) {
      children.push_back({std::make_unique<PipedProcess>(guesser_argv()), "", std::nullopt});
      ++guesses_launched;
      ++guessers_running;
      count([](AttackCounts& c) { ++c.guess_connections; });
    }
    for (std::size_t i = 0; i < plan.stuck_logins.size(); ++i) {
      if (stuck_running[i] || stuck_next[i] > now) continue;
      children.push_back({std::make_unique<PipedProcess>(plan.stuck_logins[i]), "", i});
      stuck_running[i] = true;
      stuck_next[i] = now + kStuckRestartGap;
      count([](AttackCounts& c) {
        ++c.stuck_started;
        ++c.stuck_running;
      });
    }
  }

  // A child whose output reached its end and which has exited is done.
  void reap() {
    for (auto child = children.begin(); child != children.end();) {
      if (child->process->output() >= 0 || !child->process->exit_status()) {
        ++child;
        continue;
      }
      if (child->stuck) {
        stuck_running[*child->stuck] = false;
        count([](AttackCounts& c) {
          ++c.stuck_ended;
          --c.stuck_running;
        });
      } else {
        --guessers_running;
        if (child->output.find("Permission denied") != std::string::npos) {
          const auto keys = static_cast<std::uint64_t>(plan.keys_per_connection);
          count([keys](AttackCounts& c) {
            ++c.refused_connections;
            c.key_attempts += keys;
          });
        }
      }
      child = children.erase(child);
    }
  }

  void wait_for_io(Clock::time_point now) {
    std::vector<pollfd> fds;
    std::vector<std::size_t> owners;  // index into lorises, or lorises.size() + child index
    for (std::size_t i = 0; i < lorises.size(); ++i) {
      if (lorises[i].fd < 0) continue;
      fds.push_back({lorises[i].fd, POLLIN, 0});
      owners.push_back(i);
    }
    for (std::size_t i = 0; i < children.size(); ++i) {
      if (children[i].process->output() < 0) continue;
      fds.push_back({children[i].process->output(), POLLIN, 0});
      owners.push_back(lorises.size() + i);
    }
    Clock::time_point wake = now + std::chrono::milliseconds(20);
    for (const Loris& loris : lorises) wake = std::min(wake, loris.next);
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(wake - now);
    if (::poll(fds.data(), fds.size(), static_cast<int>(std::max<long>(0, wait.count()))) <= 0) {
      return;
    }
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      if (owners[i] < lorises.size()) {
        // The server's identification line and nothing more; the end means it hung up.
        if (!drain(fds[i].fd, nullptr)) close_loris(lorises[owners[i]]);
        continue;
      }
      Child& child = children[owners[i] - lorises.size()];
      if (!drain(fds[i].fd, &child.output)) child.process->close_output();
    }
  }

  void run() {
    while (!mix.stopping_) {
      const Clock::time_point now = Clock::now();
      tick_lorises(now);
      launch(now);
      wait_for_io(now);
      reap();
      if (guessing_done()) {
        std::lock_guard lock(mix.mutex_);
        mix.guessing_done_ = true;
      }
    }
  }
};

AttackMix::AttackMix(AttackPlan plan) : plan_(std::move(plan)) {
  // 500 connections, their reconnections and the children's pipes, beside whatever the caller
  // holds: more than the usual soft limit of 1024 descriptors.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  for (int i = 0; i < plan_.keys_per_connection; ++i) {
    const fs::path key = plan_.dir / ("unknown_" + std::to_string(i));
    if (!fs::exists(key)) generate_key(key, "attacker");
    unknown_keys_.push_back(key);
  }
  thread_ = std::thread([this] { run(); });
}

AttackMix::~AttackMix() { stop(); }

void AttackMix::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void AttackMix::run() {
  try {
    Impl impl(*this);
    impl.run();
  } catch (const std::exception& e) {
    std::lock_guard lock(mutex_);
    counts_.failure = e.what();
  }
}

AttackCounts AttackMix::counts() const {
  std::lock_guard lock(mutex_);
  return counts_;
}

bool AttackMix::guessing_done() const {
  std::lock_guard lock(mutex_);
  return guessing_done_;
}

}  // namespace portcullis::e2e
