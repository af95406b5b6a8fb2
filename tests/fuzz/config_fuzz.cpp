// The config file and the access policy compiled from it. An administrator writes it, but a
// mistake in it must be reported as "FILE:LINE: what is wrong" (ConfigError), never crash the
// daemon or the CLI that checks it (`portcullis policy check`).
#include <cstddef>
#include <cstdint>
#include <string>

#include "access/policy.h"
#include "common/common.h"
#include "settings/settings.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace access = portcullis::access;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const portcullis::Config config =
        portcullis::load_config_text(text, "/etc/portcullis/portcullis.toml");
    const access::Policy policy(config.policies, config.file);
    for (const access::CompiledRule& rule : policy.rules()) access::describe(rule);
    policy.match({"dev"}, "db01");
    policy.match({"sre", "approver"}, "pay-prod");
  } catch (const portcullis::ConfigError&) {
  }
  return 0;
}
