// portcullisd: the Portcullis SSH gateway daemon.
#include <libssh/libssh.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <string>

#include "common/common.h"
#include "common/version.h"
#include "proxy/gateway.h"
#include "recorder/postgres_store.h"
#include "settings/running.h"

int main(int argc, char** argv) {
  CLI::App app{"portcullisd - just-in-time SSH bastion daemon"};
  std::optional<std::string> config_file;
  app.add_option("-c,--config", config_file,
                 "config file (default: $PORTCULLIS_CONFIG or /etc/portcullis/portcullis.toml)");
  app.set_version_flag("--version", "portcullisd " + std::string(portcullis::version()));
  CLI11_PARSE(app, argc, argv);

  try {
    std::shared_ptr<const portcullis::RunningConfig> running =
        portcullis::load_running_config(portcullis::resolve_config_path(config_file));
    const portcullis::Config& config = running->config;
    portcullis::init_logging(config.log);
    // Before any secret is read: no core file may carry the vault or signing key away.
    portcullis::disable_core_dumps();
    portcullis::recorder::publish_node_key(config.recording.signing_key, config.server.node_name,
                                           config.database.url);
    ssh_init();
    portcullis::proxy::Gateway gateway(std::move(running));
    gateway.run();
    ssh_finalize();
    return 0;
  } catch (const portcullis::ConfigError& e) {
    std::cerr << "portcullisd: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "portcullisd: " << e.what() << "\n";
    return 1;
  }
}
