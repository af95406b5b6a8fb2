#include <toml++/toml.h>

#include <cstdlib>
#include <functional>
#include <map>
#include <sstream>

#include "common/common.h"

namespace portcullis {
namespace {

namespace fs = std::filesystem;

// Reads one table of the config file against a fixed set of keys, so every table reports
// unknown keys, wrong types and bad values the same way, with the line they are on.
class TableReader {
 public:
  TableReader(const fs::path& file, std::string name, const toml::table* table)
      : file_(file), name_(std::move(name)), table_(table) {}

  void string(const std::string& key, std::string& out) {
    seen_.push_back(key);
    if (const toml::node* node = find(key)) {
      auto value = node->value<std::string>();
      if (!value || !node->is_string()) throw error(*node, "'" + key + "' must be a string");
      out = *value;
    }
  }

  void path(const std::string& key, fs::path& out) {
    std::string text;
    string(key, text);
    if (!text.empty()) out = text;
    if (out.empty()) return;
    if (out.is_relative()) out = file_.parent_path() / out;
    out = out.lexically_normal();
  }

  void integer(const std::string& key, int& out, int min, int max) {
    seen_.push_back(key);
    if (const toml::node* node = find(key)) {
      auto value = node->value<int64_t>();
      if (!node->is_integer() || !value) throw error(*node, "'" + key + "' must be an integer");
      if (*value < min || *value > max) {
        throw error(*node, "'" + key + "' must be between " + std::to_string(min) + " and " +
                               std::to_string(max));
      }
      out = static_cast<int>(*value);
    }
  }

  void duration(const std::string& key, std::chrono::seconds& out) {
    seen_.push_back(key);
    if (const toml::node* node = find(key)) {
      auto value = node->value<std::string>();
      if (!node->is_string() || !value) {
        throw error(*node, "'" + key + "' must be a duration string such as \"30s\" or \"1h30m\"");
      }
      try {
        out = parse_duration(*value);
      } catch (const std::invalid_argument& e) {
        throw error(*node, "'" + key + "': " + e.what());
      }
    }
  }

  // Applies `parse` to a string value, turning std::invalid_argument into a located error.
  template <typename Parse>
  void parsed(const std::string& key, Parse parse) {
    seen_.push_back(key);
    if (const toml::node* node = find(key)) {
      auto value = node->value<std::string>();
      if (!node->is_string() || !value) throw error(*node, "'" + key + "' must be a string");
      try {
        parse(*value);
      } catch (const std::invalid_argument& e) {
        throw error(*node, "'" + key + "': " + e.what());
      }
    }
  }

  // Call last: anything not asked for is a typo or an option this version does not know.
  void reject_unknown_keys() const {
    if (!table_) return;
    for (const auto& [key, node] : *table_) {
      std::string name(key.str());
      if (std::find(seen_.begin(), seen_.end(), name) == seen_.end()) {
        throw error(node, "unknown key '" + name + "' in [" + name_ + "]");
      }
    }
  }

  ConfigError error(const toml::node& node, const std::string& message) const {
    return ConfigError(file_.string() + ":" + std::to_string(node.source().begin.line) + ": " +
                       message);
  }

 private:
  const toml::node* find(const std::string& key) const {
    return table_ ? table_->get(key) : nullptr;
  }

  const fs::path& file_;
  std::string name_;
  const toml::table* table_;
  std::vector<std::string> seen_;
};

const toml::table* subtable(const fs::path& file, const toml::table& root, const char* name) {
  const toml::node* node = root.get(name);
  if (!node) return nullptr;
  if (!node->is_table()) {
    throw ConfigError(file.string() + ":" + std::to_string(node->source().begin.line) + ": [" +
                      name + "] must be a table");
  }
  return node->as_table();
}

void read_server(const fs::path& file, const toml::table& root, ServerConfig& server) {
  TableReader reader(file, "server", subtable(file, root, "server"));
  reader.parsed("listen", [&](const std::string& text) {
    HostPort address = parse_host_port(text);
    server.listen_host = address.host;
    server.listen_port = address.port;
  });
  reader.path("host_key", server.host_key);
  reader.string("node_name", server.node_name);
  reader.duration("login_grace", server.login_grace);
  reader.duration("upstream_timeout", server.upstream_timeout);
  reader.integer("worker_threads", server.worker_threads, 1, 256);
  reader.reject_unknown_keys();
}

void read_database(const fs::path& file, const toml::table& root, DatabaseConfig& database) {
  const toml::table* table = subtable(file, root, "database");
  TableReader reader(file, "database", table);
  reader.string("url", database.url);
  reader.reject_unknown_keys();
  if (database.url.empty()) {
    throw ConfigError(file.string() + ": missing required key 'url' in [database]");
  }
}

void read_vault(const fs::path& file, const toml::table& root, VaultConfig& vault) {
  TableReader reader(file, "vault", subtable(file, root, "vault"));
  reader.path("key_file", vault.key_file);
  reader.reject_unknown_keys();
}

void read_recording(const fs::path& file, const toml::table& root, RecordingConfig& recording) {
  TableReader reader(file, "recording", subtable(file, root, "recording"));
  reader.path("spool_dir", recording.spool_dir);
  reader.path("signing_key", recording.signing_key);
  reader.reject_unknown_keys();
}

void read_log(const fs::path& file, const toml::table& root, LogConfig& log) {
  TableReader reader(file, "log", subtable(file, root, "log"));
  reader.parsed("level", [&](const std::string& level) {
    static const std::vector<std::string> levels{"trace", "debug", "info", "warn", "error"};
    if (std::find(levels.begin(), levels.end(), level) == levels.end()) {
      throw std::invalid_argument("must be one of trace, debug, info, warn, error");
    }
    log.level = level;
  });
  reader.reject_unknown_keys();
}

using TableLoader = std::function<void(const fs::path&, const toml::table&, Config&)>;

// Every top-level table the config may hold. A new table is one entry here.
const std::map<std::string, TableLoader>& table_loaders() {
  static const std::map<std::string, TableLoader> loaders{
      {"server", [](auto& f, auto& r, Config& c) { read_server(f, r, c.server); }},
      {"database", [](auto& f, auto& r, Config& c) { read_database(f, r, c.database); }},
      {"vault", [](auto& f, auto& r, Config& c) { read_vault(f, r, c.vault); }},
      {"recording", [](auto& f, auto& r, Config& c) { read_recording(f, r, c.recording); }},
      {"log", [](auto& f, auto& r, Config& c) { read_log(f, r, c.log); }},
  };
  return loaders;
}

Config defaults_for(const fs::path& file) {
  Config config;
  config.file = file;
  const fs::path dir = file.parent_path();
  config.server.host_key = dir / "state/ssh_host_ed25519_key";
  config.vault.key_file = dir / "state/vault.key";
  config.recording.spool_dir = dir / "state/spool";
  config.recording.signing_key = dir / "state/signing.key";
  return config;
}

toml::table parse_file(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    throw ConfigError(file.string() + ": cannot read: " +
                      (fs::exists(file, ec) ? "not a regular file" : "no such file"));
  }
  try {
    return toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    throw ConfigError(file.string() + ":" + std::to_string(e.source().begin.line) +
                      ": syntax error: " + std::string(e.description()));
  }
}

}  // namespace

fs::path resolve_config_path(const std::optional<std::string>& cli_value) {
  if (cli_value && !cli_value->empty()) return *cli_value;
  if (const char* env = std::getenv("PORTCULLIS_CONFIG"); env != nullptr && *env != '\0') {
    return env;
  }
  return "/etc/portcullis/portcullis.toml";
}

Config load_config(const fs::path& path) {
  const fs::path file = fs::absolute(path).lexically_normal();
  toml::table root = parse_file(file);
  Config config = defaults_for(file);
  for (const auto& [key, node] : root) {
    if (!table_loaders().contains(std::string(key.str()))) {
      throw ConfigError(file.string() + ":" + std::to_string(node.source().begin.line) +
                        ": unknown table [" + std::string(key.str()) + "]");
    }
  }
  for (const auto& [name, load] : table_loaders()) load(file, root, config);
  return config;
}

}  // namespace portcullis
