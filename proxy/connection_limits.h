// Who may start an SSH handshake, and when. Connections not yet authenticated are capped the
// way OpenSSH's MaxStartups caps them (beyond `start`, dropped with a probability rising from
// `rate`% to 100% at `full`), and per source address; an address whose logins fail waits
// longer before each new attempt (doubling, up to kLongestBackOff), while other addresses are
// not slowed at all. Every limit hit is counted and reported at most once a minute per source
// and limit. Loop thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>

#include "common/common.h"

namespace portcullis::proxy {

// One limit hit, as reported (audited and alerted) at most once a minute per source and limit.
struct LimitHit {
  std::string limit;        // "max_startups", "per_source_max_startups", "auth_back_off", ...
  std::string source;       // the client's address, or the user for per-user limits
  std::uint64_t count = 0;  // hits since the last report for this source and limit
};

class ConnectionLimits {
 public:
  using Clock = std::chrono::steady_clock;
  using Report = std::function<void(const LimitHit&)>;

  static constexpr std::chrono::milliseconds kFirstBackOff{250};
  static constexpr std::chrono::milliseconds kLongestBackOff{10000};
  // Failures older than this are forgiven.
  static constexpr std::chrono::minutes kFailureMemory{10};

  ConnectionLimits(const ServerConfig& server, Report report);

  // Held by a connection while it is not authenticated; returned when it authenticates or ends.
  class Slot {
   public:
    Slot() = default;
    Slot(ConnectionLimits* limits, std::string source);
    Slot(Slot&& other) noexcept;
    Slot& operator=(Slot&& other) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { release(); }
    void release();
    const std::string& source() const { return source_; }

   private:
    ConnectionLimits* limits_ = nullptr;
    // A session can outlive the limits at shutdown (a worker's result still queued on the loop
    // holds it); then there is nothing to give back.
    std::weak_ptr<const bool> alive_;
    std::string source_;
  };

  struct Verdict {
    bool admitted = false;
    Slot slot;                           // when admitted
    std::chrono::milliseconds delay{0};  // back-off before the handshake starts
  };
  // A new connection from `source` (an IP address).
  Verdict admit(const std::string& source);

  // A connection from `source` ended without authenticating after refused attempts, or
  // authenticated: the back-off of that address grows, or is forgotten.
  void login_failed(const std::string& source);
  void login_succeeded(const std::string& source);

  // Counts a hit of a limit checked elsewhere (sessions per user) and reports it like the rest.
  void hit(const std::string& limit, const std::string& source);

  std::uint64_t hits(const std::string& limit) const;
  std::size_t unauthenticated() const { return unauthenticated_; }

 private:
  struct BackOff {
    int failures = 0;
    Clock::time_point last_failure;
    Clock::time_point next_attempt;
  };
  struct Reported {
    Clock::time_point at;
    std::uint64_t suppressed = 0;
  };

  bool drop_for_startups();
  void release(const std::string& source);
  void forget_old_back_offs(Clock::time_point now);

  const std::shared_ptr<const bool> alive_ = std::make_shared<const bool>(true);
  const ServerConfig server_;
  const Report report_;
  std::minstd_rand random_;
  std::size_t unauthenticated_ = 0;
  std::unordered_map<std::string, std::size_t> per_source_;
  std::unordered_map<std::string, BackOff> back_offs_;
  std::map<std::string, Reported> reported_;  // "limit source"
  std::map<std::string, std::uint64_t> hits_;
};

}  // namespace portcullis::proxy
