#include "settings/settings.h"

#include <sodium.h>

#include "common/common.h"

namespace portcullis {
namespace {

std::string sha256_hex(std::string_view bytes) {
  if (sodium_init() < 0) throw std::runtime_error("cannot initialise libsodium");
  unsigned char hash[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(hash, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  return to_hex(std::string_view(reinterpret_cast<const char*>(hash), sizeof hash));
}

// Every library's tables bound to the sections of `config`, with their defaults (state files
// under `state_dir`).
Config load_once(const std::filesystem::path& path, const std::filesystem::path& state_dir,
                 std::string_view text) {
  Config config;
  ConfigSchema schema(path, state_dir);
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
  declare_web_config(schema, config.web);
  declare_identity_config(schema, config.oidc);
  schema.load_text(text);
  config.sha256 = sha256_hex(text);
  return config;
}

// Twice when the file sets [server] state_dir: the defaults of the paths under it are only
// known once the file has been read.
Config load(const std::filesystem::path& path, std::string_view text) {
  Config config = load_once(path, {}, text);
  const std::filesystem::path default_state = ConfigSchema(path).state_dir();
  if (config.server.state_dir == default_state) return config;
  return load_once(path, config.server.state_dir, text);
}

}  // namespace

Config load_config(const std::filesystem::path& file) { return load(file, read_config_file(file)); }

Config load_config_text(std::string_view text, const std::filesystem::path& file) {
  return load(file, text);
}

}  // namespace portcullis
