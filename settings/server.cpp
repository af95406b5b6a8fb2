// [server]: where the gateway listens, how engineers reach it, its limits and algorithms.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>
#include <system_error>

#include "common/common.h"
#include "settings/internal.h"
#include "settings/settings.h"

namespace portcullis {
namespace {

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

constexpr ConfigKey<ServerConfig> kServerKeys[] = {
    {"listen",
     [](const ConfigValue& v, ServerConfig& s) {
       const HostPort address = v.parsed(check_listen_address);
       s.listen_host = address.host;
       s.listen_port = address.port;
     }},
    {"host_key", [](const ConfigValue& v, ServerConfig& s) { s.host_key = v.path(); }},
    {"state_dir", [](const ConfigValue& v, ServerConfig& s) { s.state_dir = v.path(); }},
    {"public_address",
     [](const ConfigValue& v, ServerConfig& s) {
       const PublicAddress address = v.parsed(check_public_address);
       s.public_address = address.host;
       s.public_port = address.port;
     }},
    {"node_name",
     [](const ConfigValue& v, ServerConfig& s) { s.node_name = v.parsed(check_node_name); }},
    {"login_grace",
     [](const ConfigValue& v, ServerConfig& s) { s.login_grace = v.parsed(parse_duration); }},
    {"login_grace_time",
     [](const ConfigValue& v, ServerConfig& s) { s.login_grace = v.parsed(parse_duration); }},
    {"max_startups",
     [](const ConfigValue& v, ServerConfig& s) { s.max_startups = v.parsed(parse_max_startups); }},
    {"per_source_max_startups",
     [](const ConfigValue& v, ServerConfig& s) {
       s.per_source_max_startups = static_cast<int>(v.integer(1, 1000000));
     }},
    {"auth_back_off", [](const ConfigValue& v, ServerConfig& s) { s.auth_back_off = v.boolean(); }},
    {"max_sessions_per_user",
     [](const ConfigValue& v, ServerConfig& s) {
       s.max_sessions_per_user = static_cast<int>(v.integer(1, 1000000));
     }},
    {"max_sessions",
     [](const ConfigValue& v, ServerConfig& s) {
       s.max_sessions = static_cast<int>(v.integer(1, 10000000));
     }},
    {"kex_algorithms",
     [](const ConfigValue& v, ServerConfig& s) { s.kex_algorithms = v.parsed(check_algorithms); }},
    {"ciphers",
     [](const ConfigValue& v, ServerConfig& s) { s.ciphers = v.parsed(check_algorithms); }},
    {"macs", [](const ConfigValue& v, ServerConfig& s) { s.macs = v.parsed(check_algorithms); }},
    {"host_key_algorithms",
     [](const ConfigValue& v, ServerConfig& s) {
       s.host_key_algorithms = v.parsed(check_algorithms);
     }},
    {"upstream_timeout",
     [](const ConfigValue& v, ServerConfig& s) { s.upstream_timeout = v.parsed(parse_duration); }},
    {"threads", [](const ConfigValue& v,
                   ServerConfig& s) { s.threads = static_cast<int>(v.integer(0, 256)); }},
    {"worker_threads",
     [](const ConfigValue& v, ServerConfig& s) {
       s.worker_threads = static_cast<int>(v.integer(1, 256));
     }},
    {"upstream_threads",
     [](const ConfigValue& v, ServerConfig& s) {
       s.upstream_threads = static_cast<int>(v.integer(1, 1024));
     }},
};

}  // namespace

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

void declare_server_config(ConfigSchema& schema, ServerConfig& server) {
  server.state_dir = schema.state_dir();
  server.host_key = schema.state_dir() / "ssh_host_ed25519_key";
  schema.table("server", server, kServerKeys);
}

}  // namespace portcullis
