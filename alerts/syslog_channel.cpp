#include <syslog.h>

#include <mutex>

#include "alerts/channel.h"

namespace portcullis::alerts {
namespace {

class SyslogChannel : public Channel {
 public:
  SyslogChannel() {
    // openlog() sets process-wide state; several dispatchers (tests) share it.
    static std::once_flag once;
    std::call_once(once, [] { ::openlog("portcullisd", LOG_PID, LOG_AUTHPRIV); });
  }

  std::string name() const override { return "syslog"; }

  // syslog(3) reports no failure: a message handed to it counts as delivered.
  bool deliver(const Alert& alert, const Deadline& /*deadline*/) override {
    ::syslog(LOG_WARNING, "%s", alert.json.c_str());
    return true;
  }
};

}  // namespace

std::unique_ptr<Channel> make_syslog_channel() { return std::make_unique<SyslogChannel>(); }

}  // namespace portcullis::alerts
