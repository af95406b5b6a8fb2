#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "cli/cli.h"
#include "player/player.h"
#include "settings/settings.h"

namespace portcullis::cli {
namespace {

std::string os_user_name() {
  const passwd* entry = ::getpwuid(::geteuid());
  if (entry != nullptr) return entry->pw_name;
  return "uid" + std::to_string(::geteuid());
}

}  // namespace

Context::Context(Config config)
    : config_(std::move(config)),
      actor_("admin:" + os_user_name()),
      database_(config_.database.url) {}

pqxx::connection& Context::connection() { return database_.connection(); }

void Context::transact(const std::function<void(pqxx::work&)>& work) { database_.transact(work); }

std::string read_file(const std::string& path, const std::string& what) {
  // Read into one buffer of the final size: secrets read here leave no stray copies behind.
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw UsageError("cannot read " + what + " " + path + ": " + std::strerror(errno));
  const std::streamoff size = in.tellg();
  if (size < 0) throw UsageError("cannot read " + what + " " + path + ": not a regular file");
  std::string contents(static_cast<std::size_t>(size), '\0');
  in.seekg(0);
  if (!in.read(contents.data(), static_cast<std::streamsize>(contents.size()))) {
    throw UsageError("cannot read " + what + " " + path);
  }
  return contents;
}

std::chrono::system_clock::time_point parse_since(const std::string& text) {
  if (auto at = player::parse_rfc3339(text)) return *at;
  try {
    return std::chrono::system_clock::now() - parse_duration(text);
  } catch (const std::invalid_argument&) {
    throw UsageError("--since: \"" + text +
                     "\" is neither an RFC 3339 time like 2026-11-25T08:00:00Z nor a duration "
                     "like 2h");
  }
}

}  // namespace portcullis::cli
