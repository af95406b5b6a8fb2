// Times as an auditor types them for `play --from`, `screen --at` and `export` ("90", "1:30",
// "1h2m3s", RFC 3339): parse_time throws std::invalid_argument for anything it cannot read
// and parse_rfc3339 returns nullopt; neither may crash or throw anything else.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "player/player.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace player = portcullis::player;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // 2026-11-25T05:01:00Z, as in the sample recordings.
  const portcullis::recorder::Clock::time_point started_at{std::chrono::seconds(1764046860)};
  try {
    const std::uint64_t at_us = player::parse_time(text, started_at);
    player::format_offset(at_us);
  } catch (const std::invalid_argument&) {
  }
  player::parse_rfc3339(text);
  return 0;
}
