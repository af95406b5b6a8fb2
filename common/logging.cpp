#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <array>

#include "common/common.h"
#include "common/internal.h"

namespace portcullis {

namespace internal {

std::string check_log_level(std::string_view text) {
  static constexpr std::array<std::string_view, 5> kLevels{"trace", "debug", "info", "warn",
                                                           "error"};
  for (std::string_view level : kLevels) {
    if (text == level) return std::string(level);
  }
  throw std::invalid_argument("\"" + std::string(text) +
                              "\" is not a log level (expected trace, debug, info, warn or error)");
}

}  // namespace internal

void init_logging(std::string_view level) {
  const std::string checked = internal::check_log_level(level);
  // Not registered under its name first, so calling this again (tests, reload) replaces the
  // logger instead of failing with "logger already exists".
  auto logger = std::make_shared<spdlog::logger>("portcullis",
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  // UTC like every other time Portcullis prints, so lines from several nodes line up.
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(checked));
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace portcullis
