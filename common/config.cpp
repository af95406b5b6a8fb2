// Loading portcullis.toml against the tables the libraries declared (common/config.h). Problems
// are collected table by table, so the one reported is the first in the file rather than the
// first in the order the tables happen to be checked.
#include "common/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <limits>
#include <system_error>

#include "common/internal.h"

namespace portcullis {

namespace fs = std::filesystem;

class ConfigNode {
 public:
  explicit ConfigNode(const toml::node& node) : node(node) {}
  const toml::node& node;
};

namespace {

std::size_t line_of(const toml::node& node) { return node.source().begin.line; }

std::string describe(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::string unknown_top_level(std::string_view key, const toml::node& node) {
  if (node.is_table()) return "unknown table [" + std::string(key) + "]";
  if (node.is_array_of_tables()) return "unknown table [[" + std::string(key) + "]]";
  return "unknown key '" + std::string(key) + "' outside any table";
}

toml::table parse_text(std::string_view text, const fs::path& file) {
  try {
    return toml::parse(text, file.string());
  } catch (const toml::parse_error& e) {
    std::string description(e.description());
    if (!description.empty()) {
      description[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(description[0])));
    }
    throw ConfigError(file.string() + ":" + std::to_string(e.source().begin.line) +
                      ": syntax error: " + description);
  }
}

}  // namespace

const std::string& ConfigValue::string() const {
  const toml::value<std::string>* text = node_.node.as_string();
  if (text == nullptr) throw problem(" must be a string, not " + describe(node_.node));
  if (text->get().empty()) throw problem(" must not be empty");
  return text->get();
}

fs::path ConfigValue::path() const { return (dir_ / string()).lexically_normal(); }

std::int64_t ConfigValue::integer(std::int64_t min, std::int64_t max) const {
  const toml::value<std::int64_t>* number = node_.node.as_integer();
  if (number == nullptr) throw problem(" must be an integer, not " + describe(node_.node));
  if (number->get() < min || number->get() > max) {
    throw problem(" must be from " + std::to_string(min) + " to " + std::to_string(max));
  }
  return number->get();
}

bool ConfigValue::boolean() const {
  const toml::value<bool>* flag = node_.node.as_boolean();
  if (flag == nullptr) throw problem(" must be true or false, not " + describe(node_.node));
  return flag->get();
}

std::vector<std::string> ConfigValue::strings() const {
  return parsed_list([](const std::string& text) { return text; });
}

std::size_t ConfigValue::line() const { return line_of(node_.node); }

void ConfigValue::for_each_element(const std::function<void(const ConfigValue&)>& visit) const {
  const toml::array* array = node_.node.as_array();
  if (array == nullptr) {
    throw problem(" must be an array of strings, not " + describe(node_.node));
  }
  for (const toml::node& element : *array) {
    const ConfigNode node(element);
    visit(ConfigValue(node, table_, key_, dir_));
  }
}

std::vector<std::pair<std::string, std::vector<std::string>>> ConfigValue::string_lists_by_key()
    const {
  const toml::table* table = node_.node.as_table();
  if (table == nullptr) {
    throw problem(" must be a table (e.g. { \"name\" = \"value\" }), not " +
                  describe(node_.node));
  }
  std::vector<std::pair<std::string, std::vector<std::string>>> entries;
  for (const auto& entry : *table) {
    const ConfigNode node(entry.second);
    const ConfigValue value(node, table_, key_, dir_);
    entries.emplace_back(std::string(entry.first.str()), entry.second.is_array()
                                                             ? value.strings()
                                                             : std::vector{value.string()});
  }
  return entries;
}

ConfigProblem ConfigValue::problem(const std::string& what) const {
  return ConfigProblem(line_of(node_.node),
                       "'" + std::string(key_) + "' in " + std::string(table_) + what);
}

// Reads a parsed file into a schema's sections, collecting every problem.
class ConfigLoader {
 public:
  explicit ConfigLoader(const ConfigSchema& schema) : schema_(schema) {}

  void load(const toml::table& root) {
    check_known_tables(root, "");
    for (const ConfigSchema::Table& table : schema_.tables_) {
      const toml::node* node = root.at_path(table.name).node();
      if (table.array) {
        read_array(table, node);
      } else {
        read_table("[" + table.name + "]", node, table.keys(0));
      }
    }
  }

  void throw_first_problem() const {
    if (problems_.empty()) return;
    const auto sort_key = [](const ConfigProblem& p) {
      return p.line() == 0 ? std::numeric_limits<std::size_t>::max() : p.line();
    };
    const ConfigProblem& first = *std::min_element(
        problems_.begin(), problems_.end(),
        [&](const ConfigProblem& a, const ConfigProblem& b) { return sort_key(a) < sort_key(b); });
    const fs::path& file = schema_.file();
    const std::string where =
        first.line() == 0 ? file.string() : file.string() + ":" + std::to_string(first.line());
    std::string message = first.what();
    // Keys and values may hold escaped control characters; the message must stay one line.
    std::replace_if(
        message.begin(), message.end(), [](char c) { return c == '\x7f' || (c >= 0 && c < ' '); },
        '?');
    throw ConfigError(where + ": " + message);
  }

 private:
  // Every table and key at this level is a declared table, or a parent of one ([identity] of
  // [identity.oidc]), whose children are checked the same way.
  void check_known_tables(const toml::table& level, const std::string& prefix) {
    for (const auto& entry : level) {
      const std::string name = prefix + std::string(entry.first.str());
      const bool declared =
          std::any_of(schema_.tables_.begin(), schema_.tables_.end(),
                      [&](const ConfigSchema::Table& t) { return t.name == name; });
      if (declared) continue;
      const bool parent =
          std::any_of(schema_.tables_.begin(), schema_.tables_.end(),
                      [&](const ConfigSchema::Table& t) { return t.name.starts_with(name + "."); });
      if (parent && entry.second.is_table()) {
        check_known_tables(*entry.second.as_table(), name + ".");
      } else {
        report(line_of(entry.second), unknown_top_level(name, entry.second));
      }
    }
  }

  // Each element of the array fills a new section.
  void read_array(const ConfigSchema::Table& table, const toml::node* node) {
    if (node == nullptr) return;
    const std::string title = "[[" + table.name + "]]";
    const toml::array* array = node->as_array();
    if (array == nullptr || !array->is_array_of_tables()) {
      report(line_of(*node), title + " must be an array of tables, not " + describe(*node));
      return;
    }
    for (const toml::node& element : *array) {
      read_table(title, &element, table.keys(line_of(element)));
    }
  }

  // `title` is how messages name the table: "[server]", "[[policy]]".
  void read_table(const std::string& title, const toml::node* node,
                  const ConfigSchema::BoundKeys& keys) {
    const toml::table* table = node == nullptr ? nullptr : node->as_table();
    if (node != nullptr && table == nullptr) {
      report(line_of(*node), title + " must be a table, not " + describe(*node));
      return;
    }
    if (table != nullptr) {
      // Not a structured binding: clang 14 (the fuzz build) cannot capture one in a lambda.
      for (const auto& entry : *table) {
        const toml::key& name = entry.first;
        const auto key = std::find_if(keys.begin(), keys.end(),
                                      [&](const auto& k) { return k.name == name.str(); });
        if (key == keys.end()) {
          report(line_of(entry.second),
                 "unknown key '" + std::string(name.str()) + "' in " + title);
          continue;
        }
        try {
          const ConfigNode value(entry.second);
          key->read(ConfigValue(value, title, name.str(), schema_.dir()));
        } catch (const ConfigProblem& problem) {
          problems_.push_back(problem);
        }
      }
    }
    for (const auto& key : keys) {
      if (key.required && (table == nullptr || !table->contains(key.name))) {
        report(table == nullptr ? 0 : line_of(*table),
               "missing required key '" + std::string(key.name) + "' in " + title);
      }
    }
  }

  void report(std::size_t line, const std::string& message) {
    problems_.emplace_back(line, message);
  }

  const ConfigSchema& schema_;
  std::vector<ConfigProblem> problems_;
};

ConfigSchema::ConfigSchema(const fs::path& file, const fs::path& state_dir)
    : file_(fs::absolute(file).lexically_normal()),
      dir_(file_.parent_path()),
      state_dir_((dir_ / (state_dir.empty() ? fs::path("state") : state_dir)).lexically_normal()) {}

void ConfigSchema::load() const { load_text(read_config_file(file_)); }

std::string read_config_file(const fs::path& file) {
  try {
    return internal::read_file(fs::absolute(file).lexically_normal());
  } catch (const std::system_error& e) {
    throw ConfigError(fs::absolute(file).lexically_normal().string() +
                      ": cannot read: " + e.code().message());
  }
}

void ConfigSchema::load_text(std::string_view text) const {
  const toml::table root = parse_text(text, file_);
  ConfigLoader loader(*this);
  loader.load(root);
  loader.throw_first_problem();
}

fs::path resolve_config_path(const std::optional<std::string>& cli_value) {
  if (cli_value && !cli_value->empty()) return *cli_value;
  if (const char* env = std::getenv("PORTCULLIS_CONFIG"); env != nullptr && *env != '\0') {
    return env;
  }
  return "/etc/portcullis/portcullis.toml";
}

namespace {
LogConfig::Target parse_log_target(std::string_view text) {
  if (text == "stderr") return LogConfig::Target::stderr_stream;
  if (text == "syslog") return LogConfig::Target::syslog;
  throw std::invalid_argument("\"" + std::string(text) +
                              "\" is not a log target (expected stderr or syslog)");
}

// The facilities an operator would route a daemon's log to; numbers as in <syslog.h>.
int parse_syslog_facility(std::string_view text) {
  static constexpr std::pair<std::string_view, int> kFacilities[] = {
      {"daemon", 3 << 3},  {"auth", 4 << 3},    {"authpriv", 10 << 3}, {"local0", 16 << 3},
      {"local1", 17 << 3}, {"local2", 18 << 3}, {"local3", 19 << 3},   {"local4", 20 << 3},
      {"local5", 21 << 3}, {"local6", 22 << 3}, {"local7", 23 << 3}};
  for (const auto& [name, facility] : kFacilities) {
    if (text == name) return facility;
  }
  throw std::invalid_argument("\"" + std::string(text) +
                              "\" is not a syslog facility (expected daemon, auth, authpriv or "
                              "local0 to local7)");
}

constexpr ConfigKey<LogConfig> kLogKeys[] = {
    {"level",
     [](const ConfigValue& v, LogConfig& l) { l.level = v.parsed(internal::check_log_level); }},
    {"target", [](const ConfigValue& v, LogConfig& l) { l.target = v.parsed(parse_log_target); }},
    {"syslog_facility", [](const ConfigValue& v,
                           LogConfig& l) { l.syslog_facility = v.parsed(parse_syslog_facility); }},
};
}  // namespace

void declare_log_config(ConfigSchema& schema, LogConfig& log) {
  schema.table("log", log, kLogKeys);
}

}  // namespace portcullis
