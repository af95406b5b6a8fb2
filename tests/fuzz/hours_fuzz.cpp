// Allowed hours of a policy ("Mon-Fri 08:00-18:00 Europe/Paris"): the whole input is the text of
// `hours`. parse_hours either refuses it with std::invalid_argument or returns hours that answer
// for any instant without throwing: within, window_end and describe_local. The zone is looked up
// under $TZDIR or /usr/share/zoneinfo, so names that get past parse_hours's own check reach cctz.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>

#include "access/hours.h"

namespace {

namespace access = portcullis::access;
using std::chrono::seconds;
using std::chrono::system_clock;

// Instants a bastion's clock can show: the epoch, now, both daylight saving changes of 2026 in
// Europe (01:00 UTC), past the 2038 rollover, year 2100.
const system_clock::time_point kInstants[] = {
    system_clock::time_point(seconds(0)),          system_clock::time_point(seconds(1764046860)),
    system_clock::time_point(seconds(1774746000)), system_clock::time_point(seconds(1792890000)),
    system_clock::time_point(seconds(2147483648)), system_clock::time_point(seconds(4102444800))};

void check_at(const access::AllowedHours& hours, system_clock::time_point t) {
  const bool inside = access::within(hours, t);
  const std::optional<system_clock::time_point> end = access::window_end(hours, t);
  // Outside, the window has already ended; inside, it ends later, at an instant outside it.
  if (!inside && end != t) std::abort();
  if (inside && end && (*end <= t || access::within(hours, *end))) std::abort();
  if (access::describe_local(hours, t).empty()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  access::AllowedHours hours;
  try {
    hours = access::parse_hours(text);
  } catch (const std::invalid_argument&) {
    return 0;
  }
  for (const system_clock::time_point t : kInstants) check_at(hours, t);
  return 0;
}
