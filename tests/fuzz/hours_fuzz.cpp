// Allowed hours of a policy ("Mon-Fri 08:00-18:00 Europe/Paris") and the time zones behind
// them: the POSIX TZ strings and the TZif files read by hand. The first byte picks which one
// the rest is: 0 hours, 1 a POSIX TZ string, 2 the bytes of a TZif file. Each throws
// std::invalid_argument for what it cannot read; what it reads must answer for any instant.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "access/hours.h"
#include "access/time_zone.h"

namespace {

namespace access = portcullis::access;
namespace tz = portcullis::access::tz;
using std::chrono::sys_seconds;

// Instants a bastion's clock can show: the epoch, now, past the 2038 rollover, year 2100.
const sys_seconds kInstants[] = {sys_seconds(std::chrono::seconds(0)),
                                 sys_seconds(std::chrono::seconds(1764046860)),
                                 sys_seconds(std::chrono::seconds(2147483648LL)),
                                 sys_seconds(std::chrono::seconds(4102444800LL))};

template <typename Zone>
void ask_every_instant(const Zone& zone) {
  for (const sys_seconds t : kInstants) zone.at(t);
}

void check_hours(std::string_view text) {
  const access::AllowedHours hours = access::parse_hours(text);
  for (const sys_seconds t : kInstants) {
    access::within(hours, t);
    access::describe_local(hours, t);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 3) {
      case 0:
        check_hours(text);
        break;
      case 1:
        ask_every_instant(tz::PosixZone::parse(text));
        break;
      default:
        ask_every_instant(tz::TimeZone::parse_tzif(text));
        break;
    }
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
