#include "settings/running.h"

#include <stdexcept>

namespace portcullis {
namespace {

// [server] keys that only bound what connections may do, read afresh by each connection.
void take_server_limits(ServerConfig& into, const ServerConfig& from) {
  into.login_grace = from.login_grace;
  into.max_startups = from.max_startups;
  into.per_source_max_startups = from.per_source_max_startups;
  into.auth_back_off = from.auth_back_off;
  into.max_sessions_per_user = from.max_sessions_per_user;
  into.max_sessions = from.max_sessions;
}

// Keeps `running`'s value of a section that only a restart can change, noting it if the file
// now says otherwise.
template <typename Section>
void keep(Section& next, const Section& running, const char* name,
          std::vector<std::string>& needs_restart) {
  if (!(next == running)) needs_restart.emplace_back(name);
  next = running;
}

}  // namespace

RunningConfig::RunningConfig(Config loaded)
    : config(std::move(loaded)), policy(config.policies, config.file) {
  try {
    check_alerts_config(config.alerts);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(config.file.string() + ": " + e.what());
  }
  if (policy.uses_sso() && !config.oidc.enabled()) {
    throw ConfigError(config.file.string() +
                      ": a [[policy]] asks for auth = \"sso\", but there is no [identity.oidc] "
                      "issuer to sign in with; add [identity.oidc] (docs/sso.md) or remove sso");
  }
}

std::shared_ptr<const RunningConfig> load_running_config(const std::filesystem::path& file) {
  return std::make_shared<const RunningConfig>(load_config(file));
}

ReloadPlan plan_reload(const RunningConfig& running, const Config& loaded) {
  Config next = loaded;
  std::vector<std::string> needs_restart;
  // [server] minus its limits: the listening socket, host key, node name and threads are
  // the process's own.
  ServerConfig server = running.config.server;
  take_server_limits(server, loaded.server);
  ServerConfig loaded_without_limits = loaded.server;
  take_server_limits(loaded_without_limits, running.config.server);
  if (!(loaded_without_limits == running.config.server)) {
    needs_restart.emplace_back("[server] (other than its limits)");
  }
  next.server = server;
  keep(next.database, running.config.database, "[database]", needs_restart);
  keep(next.vault, running.config.vault, "[vault]", needs_restart);
  keep(next.recording, running.config.recording, "[recording]", needs_restart);
  keep(next.upstream, running.config.upstream, "[upstream]", needs_restart);
  keep(next.rotation, running.config.rotation, "[rotation]", needs_restart);
  keep(next.web, running.config.web, "[web]", needs_restart);
  keep(next.oidc, running.config.oidc, "[identity.oidc]", needs_restart);
  return {std::make_shared<const RunningConfig>(std::move(next)), std::move(needs_restart)};
}

}  // namespace portcullis
