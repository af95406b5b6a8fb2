// Loading portcullis.toml. Each table is described by a small schema: its keys and how each is
// read into its section of Config. Every key in the file is checked against those schemas, so a
// typo or a wrong type is reported with its line instead of being silently ignored. A new table
// is a new key list plus one line in config_tables().
#include <arpa/inet.h>
#include <netinet/in.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <functional>
#include <limits>
#include <span>
#include <system_error>
#include <vector>

#include "common/common.h"
#include "common/internal.h"

namespace portcullis {
namespace {

namespace fs = std::filesystem;

// A problem in the file and its line; line 0 when no single line applies (a missing table).
class Problem : public std::runtime_error {
 public:
  Problem(std::size_t line, const std::string& message)
      : std::runtime_error(message), line_(line) {}
  std::size_t line() const { return line_; }

 private:
  std::size_t line_;
};

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

// One value from the file, with what is needed to say where it is when it is wrong. Messages
// never repeat the value itself unless a parser chooses to: [database] url may hold a password.
class Value {
 public:
  Value(const toml::node& node, std::string_view table, std::string_view key, const fs::path& dir)
      : node_(node), table_(table), key_(key), dir_(dir) {}

  const std::string& string() const {
    const toml::value<std::string>* text = node_.as_string();
    if (text == nullptr) throw problem(" must be a string, not " + describe(node_));
    if (text->get().empty()) throw problem(" must not be empty");
    return text->get();
  }

  // Relative paths are taken from the config file's folder, not the working directory.
  fs::path path() const { return (dir_ / string()).lexically_normal(); }

  std::int64_t integer(std::int64_t min, std::int64_t max) const {
    const toml::value<std::int64_t>* number = node_.as_integer();
    if (number == nullptr) throw problem(" must be an integer, not " + describe(node_));
    if (number->get() < min || number->get() > max) {
      throw problem(" must be from " + std::to_string(min) + " to " + std::to_string(max));
    }
    return number->get();
  }

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
    const toml::array* array = node_.as_array();
    if (array == nullptr) throw problem(" must be an array of strings, not " + describe(node_));
    std::vector<decltype(parse(std::string()))> items;
    for (const toml::node& element : *array) {
      items.push_back(Value(element, table_, key_, dir_).parsed(parse));
    }
    return items;
  }

  std::vector<std::string> strings() const {
    return parsed_list([](const std::string& text) { return text; });
  }

  bool boolean() const {
    const toml::value<bool>* flag = node_.as_boolean();
    if (flag == nullptr) throw problem(" must be true or false, not " + describe(node_));
    return flag->get();
  }

  std::size_t line() const { return line_of(node_); }

 private:
  Problem problem(const std::string& what) const {
    return Problem(line_of(node_), "'" + std::string(key_) + "' in " + std::string(table_) + what);
  }

  const toml::node& node_;
  std::string_view table_;
  std::string_view key_;
  const fs::path& dir_;
};

// How one key of a table is read into its section of Config.
template <typename Section>
struct KeyRule {
  std::string_view name;
  void (*read)(const Value& value, Section& section);
  bool required = false;
};

// Checks the file table by table and collects every problem, so that the one reported is the
// first in the file rather than the first in the order tables happen to be checked.
class Loader {
 public:
  explicit Loader(const fs::path& file) : file_(file), dir_(file.parent_path()) {}

  // `title` is how messages name the table: "[server]", "[[policy]]".
  template <typename Section>
  void read_table(std::string_view title, const toml::node* node,
                  std::span<const KeyRule<Section>> rules, Section& section) {
    const toml::table* table = node == nullptr ? nullptr : node->as_table();
    if (node != nullptr && table == nullptr) {
      report(line_of(*node), std::string(title) + " must be a table, not " + describe(*node));
      return;
    }
    if (table != nullptr) {
      // Not a structured binding: clang 14 (the fuzz build) cannot capture one in a lambda.
      for (const auto& entry : *table) {
        const toml::key& key = entry.first;
        const toml::node& value = entry.second;
        const auto rule = std::find_if(rules.begin(), rules.end(), [&](const KeyRule<Section>& r) {
          return r.name == key.str();
        });
        if (rule == rules.end()) {
          report(line_of(value),
                 "unknown key '" + std::string(key.str()) + "' in " + std::string(title));
          continue;
        }
        try {
          rule->read(Value(value, title, key.str(), dir_), section);
        } catch (const Problem& problem) {
          problems_.push_back(problem);
        }
      }
    }
    for (const KeyRule<Section>& rule : rules) {
      if (rule.required && (table == nullptr || !table->contains(rule.name))) {
        report(table == nullptr ? 0 : line_of(*table),
               "missing required key '" + std::string(rule.name) + "' in " + std::string(title));
      }
    }
  }

  void report(std::size_t line, const std::string& message) {
    problems_.emplace_back(line, message);
  }

  void throw_first_problem() const {
    if (problems_.empty()) return;
    const auto sort_key = [](const Problem& p) {
      return p.line() == 0 ? std::numeric_limits<std::size_t>::max() : p.line();
    };
    const Problem& first = *std::min_element(
        problems_.begin(), problems_.end(),
        [&](const Problem& a, const Problem& b) { return sort_key(a) < sort_key(b); });
    const std::string where =
        first.line() == 0 ? file_.string() : file_.string() + ":" + std::to_string(first.line());
    std::string message = first.what();
    // Keys and values may hold escaped control characters; the message must stay one line.
    std::replace_if(
        message.begin(), message.end(), [](char c) { return c == '\x7f' || (c >= 0 && c < ' '); },
        '?');
    throw ConfigError(where + ": " + message);
  }

 private:
  const fs::path& file_;
  fs::path dir_;
  std::vector<Problem> problems_;
};

// How one top-level table ([server]) or array of tables ([[policy]]) is read.
struct TableRule {
  std::string_view name;
  std::function<void(Loader&, const toml::node*, Config&)> read;
};

template <typename Section, std::size_t N>
TableRule table(std::string_view name, Section Config::*section,
                const KeyRule<Section> (&rules)[N]) {
  return {name, [name, section, &rules](Loader& loader, const toml::node* node, Config& config) {
            loader.read_table("[" + std::string(name) + "]", node,
                              std::span<const KeyRule<Section>>(rules), config.*section);
          }};
}

// Each element of the array fills one Section, which remembers its line.
template <typename Section, std::size_t N>
TableRule table_array(std::string_view name, std::vector<Section> Config::*sections,
                      const KeyRule<Section> (&rules)[N]) {
  return {name, [name, sections, &rules](Loader& loader, const toml::node* node, Config& config) {
            if (node == nullptr) return;
            const std::string title = "[[" + std::string(name) + "]]";
            const toml::array* array = node->as_array();
            if (array == nullptr || !array->is_array_of_tables()) {
              loader.report(line_of(*node),
                            title + " must be an array of tables, not " + describe(*node));
              return;
            }
            for (const toml::node& element : *array) {
              Section section;
              section.line = line_of(element);
              loader.read_table(title, &element, std::span<const KeyRule<Section>>(rules), section);
              (config.*sections).push_back(std::move(section));
            }
          }};
}

// The daemon binds to an address, so a host name (which would need resolving) is refused here
// rather than failing later with a less helpful message.
HostPort check_listen_address(std::string_view text) {
  HostPort address = parse_host_port(text);
  in6_addr binary{};
  if (inet_pton(AF_INET, address.host.c_str(), &binary) != 1 &&
      inet_pton(AF_INET6, address.host.c_str(), &binary) != 1) {
    throw std::invalid_argument("\"" + address.host +
                                "\" is not an IP address (use 0.0.0.0 or [::] to listen on all "
                                "addresses)");
  }
  return address;
}

// Whether `text` holds only ASCII letters, digits and characters of `punctuation`.
bool made_of(std::string_view text, std::string_view punctuation) {
  return std::all_of(text.begin(), text.end(), [punctuation](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           punctuation.find(c) != std::string_view::npos;
  });
}

// "bastion.example.com", "bastion.example.com:2222", "[2001:db8::1]:2222": printed into the
// ssh_config lines engineers use, so only host-name and address characters.
struct PublicAddress {
  std::string host;
  std::optional<std::uint16_t> port;
};
PublicAddress check_public_address(std::string_view text) {
  PublicAddress address;
  const bool has_port = text.starts_with('[') || (text.find(':') != std::string_view::npos &&
                                                  text.find(':') == text.rfind(':'));
  if (has_port) {
    HostPort parsed = parse_host_port(text);
    address = {parsed.host, parsed.port};
  } else {
    address.host = std::string(text);
  }
  if (address.host.empty() || address.host.size() > 253 || !made_of(address.host, ".-:")) {
    throw std::invalid_argument("\"" + std::string(text) +
                                "\" is not a host name or address, with an optional :PORT");
  }
  return address;
}

// "10:30:100" (start:rate:full, as OpenSSH's MaxStartups) or "10" (10:100:10).
ServerConfig::StartupLimit parse_max_startups(std::string_view text) {
  const std::invalid_argument malformed(
      "\"" + std::string(text) + "\" is not START:RATE:FULL (e.g. \"10:30:100\") or a number");
  const auto number = [&](std::string_view part) {
    int value = -1;
    const auto [end, error] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (error != std::errc() || end != part.data() + part.size() || value < 0 || value > 1000000) {
      throw malformed;
    }
    return value;
  };
  ServerConfig::StartupLimit limit;
  const std::size_t first = text.find(':');
  if (first == std::string_view::npos) {
    limit.start = limit.full = number(text);
    limit.rate = 100;
  } else {
    const std::size_t second = text.find(':', first + 1);
    if (second == std::string_view::npos) throw malformed;
    limit.start = number(text.substr(0, first));
    limit.rate = number(text.substr(first + 1, second - first - 1));
    limit.full = number(text.substr(second + 1));
  }
  if (limit.start < 1 || limit.rate > 100 || limit.full < limit.start) {
    throw std::invalid_argument("\"" + std::string(text) +
                                "\": START must be at least 1, RATE a percentage and FULL at "
                                "least START");
  }
  return limit;
}

// An algorithm list for libssh: names of letters, digits and "@.-", comma-separated. Whether
// libssh knows them is checked when the daemon starts.
std::string check_algorithms(std::string_view text) {
  if (text.empty() || text.front() == ',' || text.back() == ',' ||
      text.find(",,") != std::string_view::npos || !made_of(text, "@.-,")) {
    throw std::invalid_argument("\"" + std::string(text) +
                                "\" is not a comma-separated list of algorithm names");
  }
  return std::string(text);
}

// Node names go into logs and database rows; keep them plain.
std::string check_node_name(std::string_view text) {
  if (text.size() > 63 || !made_of(text, "._-")) {
    throw std::invalid_argument("\"" + std::string(text) +
                                "\" is not a node name (use up to 63 letters, digits, '.', '_' "
                                "and '-')");
  }
  return std::string(text);
}

OnRecordFailure parse_on_record_failure(std::string_view text) {
  if (text == "terminate") return OnRecordFailure::terminate;
  if (text == "continue") return OnRecordFailure::continue_unrecorded;
  throw std::invalid_argument("\"" + std::string(text) +
                              "\" is not a choice (expected \"terminate\" or \"continue\")");
}

SpoolSync parse_spool_sync(std::string_view text) {
  if (text == "file") return SpoolSync::file;
  if (text == "filesystem") return SpoolSync::filesystem;
  throw std::invalid_argument("\"" + std::string(text) +
                              "\" is not a choice (expected \"file\" or \"filesystem\")");
}

ApprovalMode parse_approval(std::string_view text) {
  if (text == "auto") return ApprovalMode::automatic;
  if (text == "single") return ApprovalMode::single;
  if (text == "dual") return ApprovalMode::dual;
  throw std::invalid_argument("\"" + std::string(text) +
                              "\" is not an approval mode (expected auto, single or dual)");
}

MfaStep parse_mfa_step(std::string_view text) {
  if (text == "request") return MfaStep::request;
  if (text == "approve") return MfaStep::approve;
  if (text == "connect") return MfaStep::connect;
  throw std::invalid_argument("\"" + std::string(text) +
                              "\" is not an MFA step (expected request, approve or connect)");
}

std::string check_webhook_url(std::string_view text) {
  if (!text.starts_with("http://") && !text.starts_with("https://")) {
    throw std::invalid_argument("must start with http:// or https://");
  }
  return std::string(text);
}

// "syslog", "webhook", "command" or several of them, comma-separated.
std::vector<std::string> check_audit_stream(std::string_view text) {
  std::vector<std::string> channels;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = text.find(',', start);
    std::string name(
        text.substr(start, comma == std::string_view::npos ? text.npos : comma - start));
    if (name != "syslog" && name != "webhook" && name != "command") {
      throw std::invalid_argument(
          "must name alert channels: \"syslog\", \"webhook\" or "
          "\"command\", or several separated by commas");
    }
    if (std::find(channels.begin(), channels.end(), name) == channels.end()) {
      channels.push_back(std::move(name));
    }
    if (comma == std::string_view::npos) return channels;
    start = comma + 1;
  }
}

constexpr KeyRule<ServerConfig> kServerKeys[] = {
    {"listen",
     [](const Value& v, ServerConfig& s) {
       const HostPort address = v.parsed(check_listen_address);
       s.listen_host = address.host;
       s.listen_port = address.port;
     }},
    {"host_key", [](const Value& v, ServerConfig& s) { s.host_key = v.path(); }},
    {"public_address",
     [](const Value& v, ServerConfig& s) {
       const PublicAddress address = v.parsed(check_public_address);
       s.public_address = address.host;
       s.public_port = address.port;
     }},
    {"node_name", [](const Value& v, ServerConfig& s) { s.node_name = v.parsed(check_node_name); }},
    {"login_grace",
     [](const Value& v, ServerConfig& s) { s.login_grace = v.parsed(parse_duration); }},
    {"login_grace_time",
     [](const Value& v, ServerConfig& s) { s.login_grace = v.parsed(parse_duration); }},
    {"max_startups",
     [](const Value& v, ServerConfig& s) { s.max_startups = v.parsed(parse_max_startups); }},
    {"per_source_max_startups",
     [](const Value& v, ServerConfig& s) {
       s.per_source_max_startups = static_cast<int>(v.integer(1, 1000000));
     }},
    {"auth_back_off", [](const Value& v, ServerConfig& s) { s.auth_back_off = v.boolean(); }},
    {"max_sessions_per_user",
     [](const Value& v, ServerConfig& s) {
       s.max_sessions_per_user = static_cast<int>(v.integer(1, 1000000));
     }},
    {"max_sessions",
     [](const Value& v, ServerConfig& s) {
       s.max_sessions = static_cast<int>(v.integer(1, 10000000));
     }},
    {"kex_algorithms",
     [](const Value& v, ServerConfig& s) { s.kex_algorithms = v.parsed(check_algorithms); }},
    {"ciphers", [](const Value& v, ServerConfig& s) { s.ciphers = v.parsed(check_algorithms); }},
    {"macs", [](const Value& v, ServerConfig& s) { s.macs = v.parsed(check_algorithms); }},
    {"host_key_algorithms",
     [](const Value& v, ServerConfig& s) { s.host_key_algorithms = v.parsed(check_algorithms); }},
    {"upstream_timeout",
     [](const Value& v, ServerConfig& s) { s.upstream_timeout = v.parsed(parse_duration); }},
    {"worker_threads",
     [](const Value& v, ServerConfig& s) {
       s.worker_threads = static_cast<int>(v.integer(1, 256));
     }},
    {"upstream_threads",
     [](const Value& v, ServerConfig& s) {
       s.upstream_threads = static_cast<int>(v.integer(1, 1024));
     }},
};

constexpr KeyRule<DatabaseConfig> kDatabaseKeys[] = {
    {"url", [](const Value& v, DatabaseConfig& d) { d.url = v.string(); }, true},
    {"journal_file", [](const Value& v, DatabaseConfig& d) { d.journal_file = v.path(); }},
};

constexpr KeyRule<VaultConfig> kVaultKeys[] = {
    {"key_file", [](const Value& v, VaultConfig& s) { s.key_file = v.path(); }},
};

constexpr KeyRule<RecordingConfig> kRecordingKeys[] = {
    {"spool_dir", [](const Value& v, RecordingConfig& r) { r.spool_dir = v.path(); }},
    {"signing_key", [](const Value& v, RecordingConfig& r) { r.signing_key = v.path(); }},
    {"record_input", [](const Value& v, RecordingConfig& r) { r.record_input = v.boolean(); }},
    {"on_record_failure",
     [](const Value& v, RecordingConfig& r) {
       r.on_record_failure = v.parsed(parse_on_record_failure);
     }},
    {"sync", [](const Value& v, RecordingConfig& r) { r.sync = v.parsed(parse_spool_sync); }},
};

constexpr KeyRule<AccessConfig> kAccessKeys[] = {
    {"approval_timeout",
     [](const Value& v, AccessConfig& a) { a.approval_timeout = v.parsed(parse_duration); }},
    {"warn_before",
     [](const Value& v, AccessConfig& a) { a.warn_before = v.parsed_list(parse_duration); }},
    {"totp_issuer", [](const Value& v, AccessConfig& a) { a.totp_issuer = v.string(); }},
};

constexpr KeyRule<PolicyRule> kPolicyKeys[] = {
    {"name", [](const Value& v, PolicyRule& p) { p.name = v.string(); }, true},
    {"targets", [](const Value& v, PolicyRule& p) { p.targets = v.strings(); }, true},
    {"roles", [](const Value& v, PolicyRule& p) { p.roles = v.strings(); }},
    {"max_duration",
     [](const Value& v, PolicyRule& p) { p.max_duration = v.parsed(parse_duration); }},
    {"require_ticket", [](const Value& v, PolicyRule& p) { p.require_ticket = v.boolean(); }},
    {"ticket_pattern",
     [](const Value& v, PolicyRule& p) {
       p.ticket_pattern = v.string();
       p.ticket_pattern_line = v.line();
     }},
    {"hours",
     [](const Value& v, PolicyRule& p) {
       p.hours = v.string();
       p.hours_line = v.line();
     }},
    {"enforce_hours",
     [](const Value& v, PolicyRule& p) {
       p.enforce_hours = v.parsed([](std::string_view text) {
         if (text == "connect") return PolicyRule::EnforceHours::connect;
         if (text == "session") return PolicyRule::EnforceHours::session;
         throw std::invalid_argument("must be \"connect\" or \"session\"");
       });
     }},
    {"approval", [](const Value& v, PolicyRule& p) { p.approval = v.parsed(parse_approval); }},
    {"approver_roles", [](const Value& v, PolicyRule& p) { p.approver_roles = v.strings(); }},
    {"mfa", [](const Value& v, PolicyRule& p) { p.mfa = v.parsed_list(parse_mfa_step); }},
    {"break_glass", [](const Value& v, PolicyRule& p) { p.break_glass = v.boolean(); }},
    {"break_glass_max",
     [](const Value& v, PolicyRule& p) { p.break_glass_max = v.parsed(parse_duration); }},
    {"alert_on_approval", [](const Value& v, PolicyRule& p) { p.alert_on_approval = v.boolean(); }},
    {"record_input", [](const Value& v, PolicyRule& p) { p.record_input = v.boolean(); }},
};

constexpr KeyRule<AlertsConfig> kAlertsKeys[] = {
    {"webhook", [](const Value& v, AlertsConfig& a) { a.webhook = v.parsed(check_webhook_url); }},
    {"command", [](const Value& v, AlertsConfig& a) { a.command = v.string(); }},
    {"syslog", [](const Value& v, AlertsConfig& a) { a.syslog = v.boolean(); }},
    {"audit_stream",
     [](const Value& v, AlertsConfig& a) { a.audit_stream = v.parsed(check_audit_stream); }},
    {"webhook_attempts",
     [](const Value& v, AlertsConfig& a) {
       a.webhook_attempts = static_cast<int>(v.integer(1, 20));
     }},
    {"webhook_timeout",
     [](const Value& v, AlertsConfig& a) { a.webhook_timeout = v.parsed(parse_duration); }},
};

constexpr KeyRule<LogConfig> kLogKeys[] = {
    {"level", [](const Value& v, LogConfig& l) { l.level = v.parsed(internal::check_log_level); }},
};

const std::vector<TableRule>& config_tables() {
  static const std::vector<TableRule> tables{
      table("server", &Config::server, kServerKeys),
      table("database", &Config::database, kDatabaseKeys),
      table("vault", &Config::vault, kVaultKeys),
      table("recording", &Config::recording, kRecordingKeys),
      table("log", &Config::log, kLogKeys),
      table("access", &Config::access, kAccessKeys),
      table_array("policy", &Config::policies, kPolicyKeys),
      table("alerts", &Config::alerts, kAlertsKeys),
  };
  return tables;
}

std::string unknown_top_level(std::string_view key, const toml::node& node) {
  if (node.is_table()) return "unknown table [" + std::string(key) + "]";
  if (node.is_array_of_tables()) return "unknown table [[" + std::string(key) + "]]";
  return "unknown key '" + std::string(key) + "' outside any table";
}

Config defaults_for(const fs::path& file) {
  Config config;
  config.file = file;
  const fs::path dir = file.parent_path();
  config.server.host_key = dir / "state/ssh_host_ed25519_key";
  config.vault.key_file = dir / "state/vault.key";
  config.database.journal_file = dir / "state/database.journal";
  config.recording.spool_dir = dir / "state/spool";
  config.recording.signing_key = dir / "state/signing.key";
  return config;
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

fs::path resolve_config_path(const std::optional<std::string>& cli_value) {
  if (cli_value && !cli_value->empty()) return *cli_value;
  if (const char* env = std::getenv("PORTCULLIS_CONFIG"); env != nullptr && *env != '\0') {
    return env;
  }
  return "/etc/portcullis/portcullis.toml";
}

Config load_config(const fs::path& path) {
  const fs::path file = fs::absolute(path).lexically_normal();
  std::string text;
  try {
    text = internal::read_file(file);
  } catch (const std::system_error& e) {
    throw ConfigError(file.string() + ": cannot read: " + e.code().message());
  }
  return load_config_text(text, file);
}

Config load_config_text(std::string_view text, const fs::path& path) {
  const fs::path file = fs::absolute(path).lexically_normal();
  const toml::table root = parse_text(text, file);
  Config config = defaults_for(file);
  Loader loader(file);
  const std::vector<TableRule>& tables = config_tables();
  for (const auto& entry : root) {
    const toml::key& key = entry.first;
    const toml::node& node = entry.second;
    const bool known = std::any_of(tables.begin(), tables.end(),
                                   [&](const TableRule& t) { return t.name == key.str(); });
    if (!known) loader.report(line_of(node), unknown_top_level(key.str(), node));
  }
  for (const TableRule& rule : tables) rule.read(loader, root.get(rule.name), config);
  loader.throw_first_problem();
  return config;
}

}  // namespace portcullis
