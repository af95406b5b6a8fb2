// Durations ("1h30m", from --for and the config) and HOST:PORT addresses. Each either parses
// or throws std::invalid_argument; a duration that parses is positive, at most ten years, and
// comes back unchanged through format_duration.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "common/common.h"

namespace {

void check_duration(std::string_view text) {
  std::chrono::seconds parsed;
  try {
    parsed = portcullis::parse_duration(text);
  } catch (const std::invalid_argument&) {
    return;
  }
  constexpr std::chrono::seconds kTenYears{3660LL * 86400};
  if (parsed.count() <= 0 || parsed > kTenYears) std::abort();
  if (portcullis::parse_duration(portcullis::format_duration(parsed)) != parsed) std::abort();
}

void check_host_port(std::string_view text) {
  try {
    const portcullis::HostPort address = portcullis::parse_host_port(text);
    if (address.port == 0 || address.host.empty()) std::abort();
  } catch (const std::invalid_argument&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_duration(text);
  check_host_port(text);
  return 0;
}
