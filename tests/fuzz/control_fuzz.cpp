// Control commands as a user types them after `ssh alice@bastion`: the shell-like splitter and
// the option parsing behind run_control_command. The database is one that cannot be reached,
// so every command stops right after parsing with the "unreachable" reply; what is fuzzed is
// everything before it. run_control_command promises never to throw.
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "access/policy.h"
#include "proxy/control.h"
#include "settings/settings.h"

namespace {

namespace proxy = portcullis::proxy;

struct Bastion {
  boost::asio::io_context loop;
  portcullis::Config config;
  portcullis::access::Policy policy{config.policies, config.file};
  // A socket folder that does not exist: connecting fails at once, without a network timeout.
  proxy::WorkerPool workers{loop, "postgresql:///fuzz?host=/nonexistent/portcullis-fuzz", 1};
  proxy::DatabaseClock clock;
  portcullis::access::Actor actor{{1, "alice", {"dev"}, {}, false}, false};
};

// Each word in single quotes, as a careful user would type it.
std::string quoted(const std::vector<std::string>& words) {
  std::string line;
  for (const std::string& word : words) {
    line += line.empty() ? "'" : " '";
    for (const char c : word) line += c == '\'' ? std::string("'\\''") : std::string(1, c);
    line += "'";
  }
  return line;
}

// Splitting what the splitter returned, quoted again, must give the same words.
void check_split(const std::string& line) {
  std::vector<std::string> words;
  try {
    words = proxy::split_command_line(line);
  } catch (const std::invalid_argument&) {
    return;
  }
  if (proxy::split_command_line(quoted(words)) != words) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Bastion* const bastion = new Bastion;  // lives as long as the process: no exit races
  const std::string line(reinterpret_cast<const char*>(data), size);
  check_split(line);
  const proxy::ControlReply reply = proxy::run_control_command(
      proxy::ControlEnvironment{bastion->workers, bastion->clock, bastion->policy, bastion->config,
                                "bastion", 22},
      bastion->actor, line);
  if (reply.exit_status == 0 && reply.out.empty() && reply.err.empty()) std::abort();  // silence
  return 0;
}
