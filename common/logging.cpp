#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "common/common.h"

namespace portcullis {

void init_logging(std::string_view level) {
  auto logger = spdlog::stderr_logger_mt("portcullis");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
  logger->set_level(spdlog::level::from_str(std::string(level)));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace portcullis
