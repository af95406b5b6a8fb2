#include "settings/settings.h"

namespace portcullis {
namespace {

// Every library's tables bound to the sections of `config`, with their defaults.
Config load(const std::filesystem::path& path, const std::optional<std::string_view>& text) {
  Config config;
  ConfigSchema schema(path);
  config.file = schema.file();
  declare_server_config(schema, config.server);
  declare_database_config(schema, config.database);
  declare_vault_config(schema, config.vault);
  declare_upstream_config(schema, config.upstream);
  declare_recording_config(schema, config.recording);
  declare_log_config(schema, config.log);
  declare_access_config(schema, config.access, config.policies);
  declare_alert_rules(schema, config.alert_rules);
  declare_alerts_config(schema, config.alerts);
  declare_rotation_config(schema, config.rotation);
  declare_oversight_config(schema, config.oversight);
  declare_metrics_config(schema, config.metrics);
  if (text) {
    schema.load_text(*text);
  } else {
    schema.load();
  }
  return config;
}

}  // namespace

Config load_config(const std::filesystem::path& file) { return load(file, std::nullopt); }

Config load_config_text(std::string_view text, const std::filesystem::path& file) {
  return load(file, text);
}

}  // namespace portcullis
