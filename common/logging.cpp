#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <syslog.h>

#include <array>

#include "common/common.h"
#include "common/config.h"
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

namespace {

// Not registered under its name first, so calling this again (tests, reload) replaces the
// logger instead of failing with "logger already exists".
void install(spdlog::sink_ptr sink, std::string_view level, std::string_view pattern) {
  const std::string checked = internal::check_log_level(level);
  auto logger = std::make_shared<spdlog::logger>("portcullis", std::move(sink));
  // UTC like every other time Portcullis prints, so lines from several nodes line up.
  logger->set_pattern(std::string(pattern), spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(checked));
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace

void init_logging(std::string_view level) {
  install(std::make_shared<spdlog::sinks::stderr_sink_mt>(), level, "%Y-%m-%dT%H:%M:%S.%eZ %l %v");
}

void init_logging(const LogConfig& log) {
  if (log.target == LogConfig::Target::stderr_stream) return init_logging(log.level);
  // syslog stamps the time and maps the level to a priority itself.
  install(std::make_shared<spdlog::sinks::syslog_sink_mt>("portcullisd", LOG_PID,
                                                          log.syslog_facility, true),
          log.level, "%v");
}

}  // namespace portcullis
