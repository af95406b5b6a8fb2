#include <spdlog/sinks/dist_sink.h>
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

// The one logger of the process writes through a switch whose sink can be replaced while other
// threads log (dist_sink locks around it): a reload must not swap the default logger itself,
// which spdlog's log calls read without a lock.
std::shared_ptr<spdlog::sinks::dist_sink_mt> installed_switch() {
  static const std::shared_ptr<spdlog::sinks::dist_sink_mt> sink_switch = [] {
    auto made = std::make_shared<spdlog::sinks::dist_sink_mt>();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("portcullis", made));
    return made;
  }();
  return sink_switch;
}

void install(spdlog::sink_ptr sink, std::string_view level, const std::string& pattern) {
  const std::string checked = internal::check_log_level(level);
  // UTC like every other time Portcullis prints, so lines from several nodes line up.
  sink->set_formatter(
      std::make_unique<spdlog::pattern_formatter>(pattern, spdlog::pattern_time_type::utc));
  installed_switch()->set_sinks({std::move(sink)});
  spdlog::default_logger_raw()->set_level(spdlog::level::from_str(checked));
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
