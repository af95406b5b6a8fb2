// The attack mix of issue 14 against one SSH server on 127.0.0.1, for the end-to-end test and
// the benchmark that runs it against portcullisd and against OpenSSH's sshd:
//   slowloris     - connections that send their SSH identification line one byte a second and
//                   never finish it; one the server closes is opened again at its next tick
//   key guessing  - real `ssh` clients offering public keys the server does not know
//   dead target   - real logins (argv from the caller) to a target that accepts TCP and never
//                   sends a byte; each is started again when it gives up
// Attackers come from their own loopback addresses (127.0.1.x slowloris, 127.0.2.x guessers), so
// whoever runs the attack can log in from another one and be told apart.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/harness.h"

namespace portcullis::e2e {

struct AttackPlan {
  std::uint16_t port = 0;  // the SSH server under attack, on 127.0.0.1
  int slowloris = 500;
  int slowloris_addresses = 100;  // 127.0.1.1 ... : five connections each by default
  int key_attempts = 1000;        // public keys offered and refused, in all
  // Under the usual limit of 6 attempts per connection (OpenSSH's MaxAuthTries, portcullisd's
  // own), so a client gives up by itself and reports "Permission denied".
  int keys_per_connection = 5;
  int guesser_addresses = 100;  // 127.0.2.1 ...
  // The guessing connections are spread evenly over this long; at most `guessers` at once.
  std::chrono::milliseconds guessing_time{20000};
  int guessers = 8;
  std::string guessed_login;  // the name the guessers log in as ("alice+db01", "root")
  // One argv per login to the dead target, each run again when it exits.
  std::vector<std::vector<std::string>> stuck_logins;
  fs::path dir;  // where the guessers' throw-away keys are made
};

struct AttackCounts {
  std::uint64_t slowloris_opened = 0;
  std::uint64_t slowloris_closed = 0;  // by the server: dropped, evicted or timed out
  std::size_t slowloris_open = 0;      // now
  std::uint64_t guess_connections = 0;
  // Connections that reached authentication and were refused every key (`Permission denied`):
  // keys_per_connection attempts each. The others were closed before authentication.
  std::uint64_t refused_connections = 0;
  std::uint64_t key_attempts = 0;
  std::uint64_t stuck_started = 0;
  std::uint64_t stuck_ended = 0;
  std::size_t stuck_running = 0;  // now
  std::string failure;            // why the attack stopped by itself (fork failed, say)
};

// A TCP listener on 127.0.0.1 that never accepts: connections complete in the kernel's backlog
// and never receive a byte, like a host whose sshd hangs. Closed at the end of the scope.
class DeadTarget {
 public:
  DeadTarget();
  ~DeadTarget();
  DeadTarget(const DeadTarget&) = delete;
  DeadTarget& operator=(const DeadTarget&) = delete;
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

// Runs the plan on a thread of its own from construction until stop() or the end of the scope.
class AttackMix {
 public:
  explicit AttackMix(AttackPlan plan);
  ~AttackMix();
  AttackMix(const AttackMix&) = delete;
  AttackMix& operator=(const AttackMix&) = delete;

  void stop();
  AttackCounts counts() const;
  // Every key attempt of the plan has been made (or its connection closed before auth).
  bool guessing_done() const;

 private:
  struct Impl;
  void run();

  AttackPlan plan_;
  std::vector<fs::path> unknown_keys_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  AttackCounts counts_;
  bool guessing_done_ = false;
  std::thread thread_;
};

}  // namespace portcullis::e2e
