// When a running session must end, and what its user is told before: the grant's end (or the
// end of its rule's allowed hours, when that comes first), a warning at each of [access]
// warn_before still ahead, and a notice when an extension moves the end (later, or back when
// it is revoked). Every deadline is measured on the injected DatabaseClock, so tests can run
// it on a loop of their own with a clock of their own.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "access/access.h"
#include "proxy/database_clock.h"

namespace portcullis::proxy {

// The largest of `warn_before` still ahead of `now` for a session ending at `end`.
std::optional<std::chrono::seconds> next_warning(
    access::TimePoint now, access::TimePoint end,
    const std::vector<std::chrono::seconds>& warn_before);

class SessionExpiry {
 public:
  // What the session does about the end; called on the loop.
  class Events {
   public:
    virtual ~Events() = default;
    // `notice` for the user, `marker` for the recording: an extension, or a revoked one.
    virtual void expiry_notice(const std::string& notice, const std::string& marker) = 0;
    // The same for a warning before the end; false when the session no longer runs (then
    // nothing is written and no more warnings come).
    virtual bool expiry_warning(const std::string& notice, const std::string& marker) = 0;
    // `due`: when the session had to end by the database's clock (for the lateness metric);
    // nullopt when that moment is not known here.
    virtual void expiry_reached(access::EndReason reason, const std::string& notice,
                                std::optional<access::TimePoint> due) = 0;
  };

  // The grant a running session uses.
  struct Grant {
    std::int64_t id = 0;
    std::string user;  // who to tell how to extend it
    // With [[policy]] enforce_hours = "session": when the rule's allowed hours end, and what
    // they are.
    std::optional<access::TimePoint> hours_end;
    std::string hours;
  };

  SessionExpiry(boost::asio::io_context& loop, const DatabaseClock& clock,
                std::vector<std::chrono::seconds> warn_before);

  // A pending timer keeps `events` alive, as any handler of the loop keeps its session.
  void tell(std::weak_ptr<Events> events) { events_ = std::move(events); }
  void set_grant(Grant grant) { grant_ = std::move(grant); }
  // The grant's end, first set or moved (an extension, or a revoked one taken back): tells the
  // user what changed and re-arms the end and the warnings.
  void set_expiry(access::TimePoint expires_at);
  void stop();

  // The grant's end, or the end of its rule's allowed hours when that comes first.
  access::TimePoint ends_at() const;

 private:
  bool hours_end_first() const;
  std::string what_ends() const;  // "grant 17", or "the allowed hours of grant 17 (...)"
  std::string grant_name() const;
  void arm_end();
  void arm_warning();
  void warn(std::chrono::seconds before, Events& events);

  const DatabaseClock& clock_;
  const std::vector<std::chrono::seconds> warn_before_;
  boost::asio::steady_timer end_timer_;
  boost::asio::steady_timer warning_timer_;
  std::weak_ptr<Events> events_;
  Grant grant_;
  access::TimePoint expires_at_{};
};

}  // namespace portcullis::proxy
