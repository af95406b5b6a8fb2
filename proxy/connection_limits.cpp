#include "proxy/connection_limits.h"

#include <algorithm>

namespace portcullis::proxy {
namespace {

constexpr auto kReportInterval = std::chrono::minutes(1);
// Addresses remembered for back-off and reporting; beyond this the oldest are forgotten, so a
// flood from many addresses costs bounded memory.
constexpr std::size_t kMaxRemembered = 10000;

}  // namespace

ConnectionLimits::Slot::Slot(ConnectionLimits* limits, std::string source)
    : limits_(limits), alive_(limits->alive_), source_(std::move(source)) {}

ConnectionLimits::Slot::Slot(Slot&& other) noexcept
    : limits_(std::exchange(other.limits_, nullptr)),
      alive_(std::move(other.alive_)),
      source_(std::move(other.source_)) {}

ConnectionLimits::Slot& ConnectionLimits::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    release();
    limits_ = std::exchange(other.limits_, nullptr);
    alive_ = std::move(other.alive_);
    source_ = std::move(other.source_);
  }
  return *this;
}

void ConnectionLimits::Slot::release() {
  ConnectionLimits* limits = std::exchange(limits_, nullptr);
  if (limits != nullptr && !alive_.expired()) limits->release(source_);
}

ConnectionLimits::ConnectionLimits(const ServerConfig& server, Report report)
    : server_(server), report_(std::move(report)), random_(std::random_device{}()) {}

ConnectionLimits::Verdict ConnectionLimits::admit(const std::string& source) {
  Verdict verdict;
  if (drop_for_startups()) {
    hit("max_startups", source);
    return verdict;
  }
  const auto same_source = per_source_.find(source);
  if (same_source != per_source_.end() &&
      same_source->second >= static_cast<std::size_t>(server_.per_source_max_startups)) {
    hit("per_source_max_startups", source);
    return verdict;
  }
  const Clock::time_point now = Clock::now();
  if (auto back_off = back_offs_.find(source);
      back_off != back_offs_.end() && back_off->second.next_attempt > now) {
    verdict.delay =
        std::chrono::ceil<std::chrono::milliseconds>(back_off->second.next_attempt - now);
    hit("auth_back_off", source);
  }
  ++unauthenticated_;
  ++per_source_[source];
  verdict.admitted = true;
  verdict.slot = Slot(this, source);
  return verdict;
}

// OpenSSH's MaxStartups start:rate:full: no drop below `start`, every one at `full`, and in
// between a probability growing linearly from rate% to 100%.
bool ConnectionLimits::drop_for_startups() {
  const auto& limit = server_.max_startups;
  const auto count = static_cast<int>(unauthenticated_);
  if (count < limit.start) return false;
  if (count >= limit.full) return true;
  const double span = std::max(1, limit.full - limit.start);
  const double percent = limit.rate + (100.0 - limit.rate) * (count - limit.start) / span;
  return std::uniform_real_distribution<double>(0.0, 100.0)(random_) < percent;
}

void ConnectionLimits::release(const std::string& source) {
  if (unauthenticated_ > 0) --unauthenticated_;
  if (auto found = per_source_.find(source); found != per_source_.end() && --found->second == 0) {
    per_source_.erase(found);
  }
}

void ConnectionLimits::login_failed(const std::string& source) {
  if (!server_.auth_back_off) return;
  const Clock::time_point now = Clock::now();
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

void ConnectionLimits::login_succeeded(const std::string& source) { back_offs_.erase(source); }

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
  ++hits_[limit];
  const Clock::time_point now = Clock::now();
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
  const auto found = hits_.find(limit);
  return found == hits_.end() ? 0 : found->second;
}

}  // namespace portcullis::proxy
