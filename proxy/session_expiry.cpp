#include "proxy/session_expiry.h"

#include "common/common.h"

namespace portcullis::proxy {

std::optional<std::chrono::seconds> next_warning(
    access::TimePoint now, access::TimePoint end,
    const std::vector<std::chrono::seconds>& warn_before) {
  std::optional<std::chrono::seconds> next;
  for (std::chrono::seconds before : warn_before) {
    if (end - before > now && (!next || before > *next)) next = before;
  }
  return next;
}

SessionExpiry::SessionExpiry(boost::asio::io_context& loop, const DatabaseClock& clock,
                             std::vector<std::chrono::seconds> warn_before)
    : clock_(clock), warn_before_(std::move(warn_before)), end_timer_(loop), warning_timer_(loop) {}

void SessionExpiry::set_expiry(access::TimePoint expires_at) {
  if (expires_at == expires_at_) return;
  const bool first = expires_at_ == access::TimePoint{};
  const std::shared_ptr<Events> events = events_.lock();
  if (!first && events && expires_at > expires_at_) {
    events->expiry_notice(
        grant_name() + " was extended; it now ends at " + format_rfc3339(expires_at),
        "extension " + format_rfc3339(expires_at));
  } else if (!first && events && expires_at < expires_at_) {
    // Only a revoked extension moves a grant's end earlier: the time is taken back.
    if (expires_at <= clock_.now()) {
      // When the extension was revoked is not known here: no lateness is measured.
      return events->expiry_reached(access::EndReason::revoked,
                                    grant_name() +
                                        " lost its extension, which was revoked; it ended at " +
                                        format_rfc3339(expires_at) + "; session closed",
                                    std::nullopt);
    }
    events->expiry_notice(grant_name() + " lost its extension, which was revoked; it now ends at " +
                              format_rfc3339(expires_at),
                          "extension revoked " + format_rfc3339(expires_at));
  }
  expires_at_ = expires_at;
  arm_end();
}

void SessionExpiry::stop() {
  end_timer_.cancel();
  warning_timer_.cancel();
}

access::TimePoint SessionExpiry::ends_at() const {
  return grant_.hours_end ? std::min(expires_at_, *grant_.hours_end) : expires_at_;
}

bool SessionExpiry::hours_end_first() const {
  return grant_.hours_end && *grant_.hours_end < expires_at_;
}

std::string SessionExpiry::grant_name() const { return "grant " + std::to_string(grant_.id); }

std::string SessionExpiry::what_ends() const {
  return hours_end_first() ? "the allowed hours of " + grant_name() + " (" + grant_.hours + ")"
                           : grant_name();
}

void SessionExpiry::arm_end() {
  arm_warning();
  const access::TimePoint end = ends_at();
  end_timer_.expires_after(std::max(clock_.until(end), {}));
  end_timer_.async_wait([this, events = events_.lock(), end](boost::system::error_code ec) {
    if (ec || !events) return;
    if (hours_end_first()) {
      return events->expiry_reached(access::EndReason::grant_expired,
                                    what_ends() + " ended at " + format_rfc3339(end) +
                                        "; session closed. Connect again when they start "
                                        "again.",
                                    end);
    }
    events->expiry_reached(access::EndReason::grant_expired,
                           grant_name() + " expired at " + format_rfc3339(end) +
                               "; session closed. Ask for a new grant to continue.",
                           end);
  });
}

void SessionExpiry::arm_warning() {
  const std::optional<std::chrono::seconds> next =
      next_warning(clock_.now(), ends_at(), warn_before_);
  warning_timer_.cancel();
  if (!next) return;
  const std::chrono::seconds before = *next;
  warning_timer_.expires_after(clock_.until(ends_at() - before));
  warning_timer_.async_wait([this, events = events_.lock(), before](boost::system::error_code ec) {
    if (!ec && events) warn(before, *events);
  });
}

void SessionExpiry::warn(std::chrono::seconds before, Events& events) {
  const std::string more = hours_end_first()
                               ? "connect again when they start again"
                               : "for more time: ssh " + grant_.user + "@<this bastion> extend " +
                                     std::to_string(grant_.id) + " --for DURATION --reason TEXT";
  const bool running = events.expiry_warning(what_ends() + " end" + (hours_end_first() ? "" : "s") +
                                                 " in " + format_duration(before) + " (at " +
                                                 format_rfc3339(ends_at()) + "); " + more,
                                             "grant_warning " + format_duration(before));
  if (running) arm_warning();
}

}  // namespace portcullis::proxy
