#include "proxy/connection_limits.h"

#include <algorithm>

namespace portcullis::proxy {
namespace {

constexpr auto kReportInterval = std::chrono::minutes(1);
// Addresses remembered for back-off and reporting; beyond this the oldest are forgotten, so a
// flood from many addresses costs bounded memory.
constexpr std::size_t kMaxRemembered = 10000;

}  // namespace

ConnectionLimits::Slot::Slot(ConnectionLimits* limits, std::uint64_t id, std::string source)
    : limits_(limits), alive_(limits->alive_), id_(id), source_(std::move(source)) {}

ConnectionLimits::Slot::Slot(Slot&& other) noexcept
    : limits_(std::exchange(other.limits_, nullptr)),
      alive_(std::move(other.alive_)),
      id_(std::exchange(other.id_, 0)),
      source_(std::move(other.source_)) {}

ConnectionLimits::Slot& ConnectionLimits::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    release();
    limits_ = std::exchange(other.limits_, nullptr);
    alive_ = std::move(other.alive_);
    id_ = std::exchange(other.id_, 0);
    source_ = std::move(other.source_);
  }
  return *this;
}

ConnectionLimits* ConnectionLimits::Slot::held() const {
  return limits_ != nullptr && !alive_.expired() ? limits_ : nullptr;
}

void ConnectionLimits::Slot::release() {
  if (ConnectionLimits* limits = held()) {
    std::lock_guard lock(limits->mutex_);
    limits->release(id_);
  }
  limits_ = nullptr;
}

void ConnectionLimits::Slot::identified() {
  ConnectionLimits* limits = held();
  if (limits == nullptr) return;
  std::lock_guard lock(limits->mutex_);
  // An evicted connection's place is gone already: nothing to update.
  if (auto found = limits->startups_.find(id_);
      found != limits->startups_.end() && found->second.progress == Progress::silent) {
    found->second.progress = Progress::identified;
  }
}

void ConnectionLimits::Slot::key_exchanged() {
  ConnectionLimits* limits = held();
  if (limits == nullptr) return;
  std::lock_guard lock(limits->mutex_);
  if (auto found = limits->startups_.find(id_); found != limits->startups_.end()) {
    found->second.progress = Progress::key_exchanged;
  }
}

void ConnectionLimits::Slot::on_eviction(std::function<void()> evict) {
  ConnectionLimits* limits = held();
  if (limits == nullptr) return;
  std::lock_guard lock(limits->mutex_);
  if (auto found = limits->startups_.find(id_); found != limits->startups_.end()) {
    found->second.evict = std::move(evict);
  }
}

ConnectionLimits::ConnectionLimits(const ServerConfig& server, Report report, Now now)
    : server_(server),
      report_(std::move(report)),
      now_(std::move(now)),
      random_(std::random_device{}()) {}

void ConnectionLimits::reconfigure(const ServerConfig& server) {
  std::lock_guard lock(mutex_);
  server_ = server;
}

std::size_t ConnectionLimits::unauthenticated() const {
  std::lock_guard lock(mutex_);
  return startups_.size();
}

ConnectionLimits::Verdict ConnectionLimits::admit(const std::string& source) {
  std::lock_guard lock(mutex_);
  Verdict verdict;
  // Before max_startups: a newcomer refused anyway must not cost anyone their place.
  const auto same_source = per_source_.find(source);
  if (same_source != per_source_.end() &&
      same_source->second >= static_cast<std::size_t>(server_.per_source_max_startups)) {
    count_hit("per_source_max_startups", source);
    return verdict;
  }
  const Clock::time_point now = now_();
  if (drop_for_startups() && !evict_stalled(now)) {
    count_hit("max_startups", source);
    return verdict;
  }
  if (auto back_off = back_offs_.find(source);
      back_off != back_offs_.end() && back_off->second.next_attempt > now) {
    verdict.delay =
        std::chrono::ceil<std::chrono::milliseconds>(back_off->second.next_attempt - now);
    count_hit("auth_back_off", source);
  }
  const std::uint64_t id = next_id_++;
  startups_.emplace(id, Startup{source, now, Progress::silent, nullptr});
  ++per_source_[source];
  verdict.admitted = true;
  verdict.slot = Slot(this, id, source);
  return verdict;
}

// OpenSSH's MaxStartups start:rate:full: no drop below `start`, every one at `full`, and in
// between a probability growing linearly from rate% to 100%.
bool ConnectionLimits::drop_for_startups() {
  const auto& limit = server_.max_startups;
  const auto count = static_cast<int>(startups_.size());
  if (count < limit.start) return false;
  if (count >= limit.full) return true;
  const double span = std::max(1, limit.full - limit.start);
  const double percent = limit.rate + (100.0 - limit.rate) * (count - limit.start) / span;
  return std::uniform_real_distribution<double>(0.0, 100.0)(random_) < percent;
}

// The oldest connection that has not identified itself gives its place to the newcomer, else
// the oldest still in key exchange after kKeyExchangeGrace. Silent ones get no grace period: a
// daemon busy with a flood accepts connections in batches, and a grace counted from acceptance
// would leave every place too young to take after one batch and drop the rest of it, real
// clients with it. A real client's line is usually read as it is accepted; if not, it keeps its
// place until `full` newer connections have come.
bool ConnectionLimits::evict_stalled(Clock::time_point now) {
  auto stalled = std::find_if(startups_.begin(), startups_.end(), [](const auto& entry) {
    return entry.second.progress == Progress::silent;
  });
  if (stalled == startups_.end()) {
    stalled = std::find_if(startups_.begin(), startups_.end(), [now](const auto& entry) {
      return entry.second.progress == Progress::identified &&
             now - entry.second.accepted >= kKeyExchangeGrace;
    });
  }
  if (stalled == startups_.end()) return false;
  const std::string source = stalled->second.source;
  const std::function<void()> evict = std::move(stalled->second.evict);
  release(stalled->first);
  count_hit("stalled_handshake", source);
  if (evict) evict();
  return true;
}

void ConnectionLimits::release(std::uint64_t id) {
  const auto found = startups_.find(id);
  if (found == startups_.end()) return;  // evicted: given back then
  const auto source = per_source_.find(found->second.source);
  if (source != per_source_.end() && --source->second == 0) per_source_.erase(source);
  startups_.erase(found);
}

void ConnectionLimits::login_failed(const std::string& source) {
  std::lock_guard lock(mutex_);
  if (!server_.auth_back_off) return;
  const Clock::time_point now = now_();
  if (back_offs_.size() >= kMaxRemembered && !back_offs_.contains(source)) {
    forget_old_back_offs(now);
  }
  BackOff& back_off = back_offs_[source];
  if (now - back_off.last_failure > kFailureMemory) back_off.failures = 0;
  ++back_off.failures;
  back_off.last_failure = now;
  const auto delay = std::min<std::chrono::milliseconds>(
      kFirstBackOff * (1LL << std::min(back_off.failures - 1, 16)), kLongestBackOff);
  back_off.next_attempt = now + delay;
}

void ConnectionLimits::login_succeeded(const std::string& source) {
  std::lock_guard lock(mutex_);
  back_offs_.erase(source);
}

void ConnectionLimits::forget_old_back_offs(Clock::time_point now) {
  std::erase_if(back_offs_, [now](const auto& entry) {
    return now - entry.second.last_failure > kFailureMemory;
  });
  if (back_offs_.size() < kMaxRemembered) return;
  // Still full of recent failures: the oldest goes.
  auto oldest = std::min_element(
      back_offs_.begin(), back_offs_.end(),
      [](const auto& a, const auto& b) { return a.second.last_failure < b.second.last_failure; });
  back_offs_.erase(oldest);
}

void ConnectionLimits::hit(const std::string& limit, const std::string& source) {
  std::lock_guard lock(mutex_);
  count_hit(limit, source);
}

void ConnectionLimits::count_hit(const std::string& limit, const std::string& source) {
  ++hits_[limit];
  const Clock::time_point now = now_();
  const std::string key = limit + " " + source;
  auto found = reported_.find(key);
  if (found != reported_.end() && now - found->second.at < kReportInterval) {
    ++found->second.suppressed;
    return;
  }
  const std::uint64_t count = found == reported_.end() ? 1 : found->second.suppressed + 1;
  if (found == reported_.end()) {
    if (reported_.size() >= kMaxRemembered) {
      std::erase_if(reported_,
                    [now](const auto& entry) { return now - entry.second.at >= kReportInterval; });
    }
    if (reported_.size() >= kMaxRemembered) return;  // counted, not reported: bounded memory
    found = reported_.emplace(key, Reported{}).first;
  }
  found->second = Reported{now, 0};
  report_(LimitHit{limit, source, count});
}

std::uint64_t ConnectionLimits::hits(const std::string& limit) const {
  std::lock_guard lock(mutex_);
  const auto found = hits_.find(limit);
  return found == hits_.end() ? 0 : found->second;
}

}  // namespace portcullis::proxy
