// Who may start an SSH handshake, and when. Connections not yet authenticated are capped the
// way OpenSSH's MaxStartups caps them (beyond `start`, dropped with a probability rising from
// `rate`% to 100% at `full`), and per source address; an address whose logins fail waits
// longer before each new attempt (doubling, up to kLongestBackOff), while other addresses are
// not slowed at all. A connection that would be dropped takes the place of one that stalled in
// its handshake instead, so connections that never finish it (slowloris) cannot keep a real
// client out. Every limit hit is counted and reported at most once a minute per source and
// limit. Any thread: connections are admitted on the main loop and give their places back from
// the loops that carry them (proxy/event_loops.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <unordered_map>

#include "common/common.h"
#include "settings/settings.h"

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
  using Now = std::function<Clock::time_point()>;

  static constexpr std::chrono::milliseconds kFirstBackOff{250};
  static constexpr std::chrono::milliseconds kLongestBackOff{10000};
  // Failures older than this are forgiven.
  static constexpr std::chrono::minutes kFailureMemory{10};
  // When every unauthenticated place is taken, a newcomer evicts the oldest connection that
  // has not sent its identification line ("SSH-2.0-..."), or else the oldest one still in key
  // exchange this long after it was accepted. A real client sends that line at once (it is
  // read when the connection is accepted, or a round trip later) and finishes key exchange
  // within a few round trips; a connection that got as far as authenticating keeps its place.
  static constexpr std::chrono::milliseconds kKeyExchangeGrace{1000};

  ConnectionLimits(const ServerConfig& server, Report report, Now now = &Clock::now);
  // A reload: new limits apply to the next connection; those already admitted keep their place.
  void reconfigure(const ServerConfig& server);

  // Held by a connection while it is not authenticated; returned when it authenticates or ends.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept;
    Slot& operator=(Slot&& other) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { release(); }
    void release();
    const std::string& source() const { return source_; }

    // How far the handshake got: a connection that got further is evicted later, or never.
    void identified();
    void key_exchanged();
    // Called on the admitting thread, from within admit() and under its lock, when a newcomer
    // takes this connection's place; the place is already given back, the connection should
    // close (post to its own loop; call nothing here).
    void on_eviction(std::function<void()> evict);

   private:
    friend class ConnectionLimits;
    Slot(ConnectionLimits* limits, std::uint64_t id, std::string source);
    ConnectionLimits* held() const;

    ConnectionLimits* limits_ = nullptr;
    // A session can outlive the limits at shutdown (a worker's result still queued on the loop
    // holds it); then there is nothing to give back.
    std::weak_ptr<const bool> alive_;
    std::uint64_t id_ = 0;
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
  std::size_t unauthenticated() const;

 private:
  enum class Progress { silent, identified, key_exchanged };
  // A connection holding one of the unauthenticated places.
  struct Startup {
    std::string source;
    Clock::time_point accepted;
    Progress progress = Progress::silent;
    std::function<void()> evict;
  };
  struct BackOff {
    int failures = 0;
    Clock::time_point last_failure;
    Clock::time_point next_attempt;
  };
  struct Reported {
    Clock::time_point at;
    std::uint64_t suppressed = 0;
  };

  // With mutex_ held.
  bool drop_for_startups();
  bool evict_stalled(Clock::time_point now);
  void release(std::uint64_t id);
  void count_hit(const std::string& limit, const std::string& source);
  void forget_old_back_offs(Clock::time_point now);

  const std::shared_ptr<const bool> alive_ = std::make_shared<const bool>(true);
  mutable std::mutex mutex_;  // guards everything below
  ServerConfig server_;
  const Report report_;
  const Now now_;
  std::minstd_rand random_;
  // In the order they were accepted (ids only grow), so the first stalled one is the oldest.
  std::map<std::uint64_t, Startup> startups_;
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::string, std::size_t> per_source_;
  std::unordered_map<std::string, BackOff> back_offs_;
  std::map<std::string, Reported> reported_;  // "limit source"
  std::map<std::string, std::uint64_t> hits_;
};

}  // namespace portcullis::proxy
