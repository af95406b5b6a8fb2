// Reading portcullis.toml. Each library owns its tables: it declares their keys, how each is
// read into its section and their defaults to a ConfigSchema (e.g. recorder/config.h declares
// [recording]), and settings/ puts the sections of the whole file together. Every key in the
// file is checked against the declared tables, so a typo or a wrong type is reported with its
// line ("FILE:LINE: what is wrong") instead of being silently ignored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portcullis {

// A configuration problem, already formatted as "FILE:LINE: what is wrong"
// (or "FILE: what is wrong" when no line applies, e.g. a missing file).
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A problem with one value and its line, before the loader names the file; line 0 when no
// single line applies (a missing table).
class ConfigProblem : public std::runtime_error {
 public:
  ConfigProblem(std::size_t line, const std::string& message)
      : std::runtime_error(message), line_(line) {}
  std::size_t line() const { return line_; }

 private:
  std::size_t line_;
};

class ConfigNode;  // a value of the parsed file (config.cpp)

// One value from the file, with what is needed to say where it is when it is wrong. Messages
// never repeat the value itself unless a parser chooses to: [database] url may hold a password.
class ConfigValue {
 public:
  ConfigValue(const ConfigNode& node, std::string_view table, std::string_view key,
              const std::filesystem::path& dir)
      : node_(node), table_(table), key_(key), dir_(dir) {}

  // A non-empty string.
  const std::string& string() const;
  // Relative paths are taken from the config file's folder, not the working directory.
  std::filesystem::path path() const;
  std::int64_t integer(std::int64_t min, std::int64_t max) const;
  bool boolean() const;
  std::vector<std::string> strings() const;
  // An inline table whose values are each a string or an array of strings
  // ({ "sre" = "dev", "security" = ["auditor", "approver"] }), by key.
  std::vector<std::pair<std::string, std::vector<std::string>>> string_lists_by_key() const;
  std::size_t line() const;

  // The string run through `parse`, whose std::invalid_argument explains what is wrong.
  template <typename Parse>
  auto parsed(Parse parse) const {
    const std::string& text = string();
    try {
      return parse(text);
    } catch (const std::invalid_argument& e) {
      throw problem(std::string(": ") + e.what());
    }
  }

  // An array of strings, each run through `parse` (whose std::invalid_argument says why).
  template <typename Parse>
  auto parsed_list(Parse parse) const {
    std::vector<decltype(parse(std::string()))> items;
    for_each_element([&](const ConfigValue& element) { items.push_back(element.parsed(parse)); });
    return items;
  }

 private:
  // Each element of an array; a problem if this is not an array.
  void for_each_element(const std::function<void(const ConfigValue&)>& visit) const;
  ConfigProblem problem(const std::string& what) const;

  const ConfigNode& node_;
  std::string_view table_;
  std::string_view key_;
  const std::filesystem::path& dir_;
};

// How one key of a table is read into its section.
template <typename Section>
struct ConfigKey {
  std::string_view name;
  void (*read)(const ConfigValue& value, Section& section);
  bool required = false;
};

// The tables a config file may hold, each bound to the section it fills, and the loading of a
// file into them. Sections keep the defaults they had when declared for keys the file omits.
class ConfigSchema {
 public:
  // `file` is made absolute; it names the file in messages and anchors relative paths.
  // `state_dir` holds the daemon's own files (keys, spool) unless the file names them one by
  // one; empty = "state" beside the file. A relative one is taken from the file's folder.
  explicit ConfigSchema(const std::filesystem::path& file,
                        const std::filesystem::path& state_dir = {});
  ConfigSchema(const ConfigSchema&) = delete;
  ConfigSchema& operator=(const ConfigSchema&) = delete;

  const std::filesystem::path& file() const { return file_; }
  // The config file's folder: relative paths in the file are taken from it.
  const std::filesystem::path& dir() const { return dir_; }
  // Where state files (keys, spool, journal) go by default: [server] state_dir.
  const std::filesystem::path& state_dir() const { return state_dir_; }

  // [name]: a table read into `section` (which must outlive the schema's loading); a dotted
  // name ("identity.oidc") is a subtable.
  template <typename Section, std::size_t N>
  void table(std::string_view name, Section& section, const ConfigKey<Section> (&keys)[N]) {
    tables_.push_back(
        {std::string(name), false, [&section, &keys](std::size_t) { return bind(section, keys); }});
  }

  // [[name]]: each element of the array appends one Section, which remembers its line.
  template <typename Section, std::size_t N>
  void table_array(std::string_view name, std::vector<Section>& sections,
                   const ConfigKey<Section> (&keys)[N]) {
    tables_.push_back({std::string(name), true, [&sections, &keys](std::size_t line) {
                         sections.emplace_back().line = line;
                         return bind(sections.back(), keys);
                       }});
  }

  // Reads the file (or `text`, as if it were the file's contents) into the declared sections.
  // Throws ConfigError with "FILE:LINE: message" for the first problem in the file: a syntax
  // error, an unknown table or key, a wrong type or value, a missing required key.
  void load() const;
  void load_text(std::string_view text) const;

 private:
  struct BoundKey {
    std::string_view name;
    bool required;
    std::function<void(const ConfigValue&)> read;
  };
  using BoundKeys = std::vector<BoundKey>;
  struct Table {
    std::string name;
    bool array;
    // The keys bound to the section to fill; for an array, a new section at `line` each call.
    std::function<BoundKeys(std::size_t line)> keys;
  };
  friend class ConfigLoader;

  template <typename Section, std::size_t N>
  static BoundKeys bind(Section& section, const ConfigKey<Section> (&keys)[N]) {
    BoundKeys bound;
    for (const ConfigKey<Section>& key : keys) {
      bound.push_back({key.name, key.required,
                       [&section, read = key.read](const ConfigValue& v) { read(v, section); }});
    }
    return bound;
  }

  std::filesystem::path file_;
  std::filesystem::path dir_;
  std::filesystem::path state_dir_;
  std::vector<Table> tables_;
};

// The bytes of a config file; ConfigError "FILE: cannot read: why" when it cannot be read.
std::string read_config_file(const std::filesystem::path& file);

// The config file to use: `cli_value` (from -c) if given, else $PORTCULLIS_CONFIG,
// else /etc/portcullis/portcullis.toml.
std::filesystem::path resolve_config_path(const std::optional<std::string>& cli_value);

// [log]: common owns logging.
struct LogConfig {
  enum class Target { stderr_stream, syslog };
  std::string level = "info";  // trace, debug, info, warn, error
  // stderr (what journald collects under systemd) or syslog(3) under ident "portcullisd".
  Target target = Target::stderr_stream;
  int syslog_facility = 3 << 3;  // LOG_DAEMON; [log] syslog_facility names it
  bool operator==(const LogConfig&) const = default;
};
void declare_log_config(ConfigSchema& schema, LogConfig& log);
// Sets up logging as [log] says (init_logging in common.h, or syslog); may be called again, as a
// reload does.
void init_logging(const LogConfig& log);

}  // namespace portcullis
