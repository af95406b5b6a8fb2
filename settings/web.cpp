// [web]: the HTTPS console and JSON API inside portcullisd (docs/web.md).
#include <stdexcept>

#include "common/common.h"
#include "settings/internal.h"
#include "settings/settings.h"

namespace portcullis {
namespace {

// "https://bastion.example.com" or "https://bastion.example.com:8443": printed in sign-in
// links, so only URL-safe host characters, and https only (the cookies are Secure).
std::string check_public_url(std::string_view text) {
  std::string url(text);
  while (url.ends_with('/')) url.pop_back();
  constexpr std::string_view kScheme = "https://";
  if (!url.starts_with(kScheme) || url.size() == kScheme.size() || url.size() > 300) {
    throw std::invalid_argument("\"" + std::string(text) +
                                "\" is not an https:// URL (e.g. https://bastion.example.com)");
  }
  for (char c : url.substr(kScheme.size())) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '/';
    if (!ok) {
      throw std::invalid_argument("\"" + std::string(text) +
                                  "\" holds a character a host name and port cannot");
    }
  }
  return url;
}

std::chrono::seconds parse_session_ttl(std::string_view text) {
  const std::chrono::seconds ttl = parse_duration(text);
  if (ttl < std::chrono::minutes(1) || ttl > std::chrono::hours(24 * 7)) {
    throw std::invalid_argument("a browser session lasts between 1m and 168h");
  }
  return ttl;
}

constexpr ConfigKey<WebConfig> kWebKeys[] = {
    {"listen",
     [](const ConfigValue& v, WebConfig& w) {
       w.listen = v.string();
       const HostPort address = v.parsed(check_listen_address);
       w.listen_host = address.host;
       w.listen_port = address.port;
     }},
    {"tls_cert", [](const ConfigValue& v, WebConfig& w) { w.tls_cert = v.path(); }},
    {"tls_key", [](const ConfigValue& v, WebConfig& w) { w.tls_key = v.path(); }},
    {"public_url",
     [](const ConfigValue& v, WebConfig& w) { w.public_url = v.parsed(check_public_url); }},
    {"session_ttl",
     [](const ConfigValue& v, WebConfig& w) { w.session_ttl = v.parsed(parse_session_ttl); }},
    {"threads",
     [](const ConfigValue& v, WebConfig& w) { w.threads = static_cast<int>(v.integer(1, 64)); }},
    {"max_connections",
     [](const ConfigValue& v, WebConfig& w) {
       w.max_connections = static_cast<int>(v.integer(1, 100000));
     }},
};

}  // namespace

void declare_web_config(ConfigSchema& schema, WebConfig& web) {
  web.tls_cert = schema.state_dir() / "web.crt";
  web.tls_key = schema.state_dir() / "web.key";
  schema.table("web", web, kWebKeys);
}

}  // namespace portcullis
