#include "targetssh/host_certificates.h"

#include <sstream>

#include "common/program.h"
#include "targetssh/targetssh.h"

namespace portcullis::targetssh {
namespace {

constexpr const char* kKeyscan = "/usr/bin/ssh-keyscan";
// Certificates are a few hundred bytes each; a target offers one per host key type.
constexpr std::size_t kScanOutputKept = std::size_t{64} * 1024;

}  // namespace

std::vector<std::string> scan_host_certificates(const access::Target& target,
                                                std::chrono::seconds timeout) {
  Program scan;
  // "--" ends the options: a host name cannot be taken for one.
  scan.argv = {kKeyscan, "-c",
               "-T",     std::to_string(std::max<long>(timeout.count(), 1)),
               "-p",     std::to_string(target.port),
               "--",     target.host};
  scan.environment = {"PATH=/usr/bin:/bin"};
  scan.kept = kScanOutputKept;
  // ssh-keyscan stops itself at -T; the limit here is the backstop.
  const auto limit = std::chrono::steady_clock::now() + timeout + std::chrono::seconds(2);
  ProgramRun run;
  try {
    run = run_program(scan, [limit] { return limit; });
  } catch (const std::system_error& e) {
    throw LoginError("cannot ask target " + target.name +
                     " for its host certificates: " + e.what());
  }
  if (!run.status) {
    throw LoginError("target " + target.name + " did not show its host certificates in time");
  }
  std::vector<std::string> lines;
  std::istringstream out(run.out);
  for (std::string line; std::getline(out, line);) {
    if (!line.empty() && line.front() != '#') lines.push_back(line);
  }
  return lines;
}

}  // namespace portcullis::targetssh
