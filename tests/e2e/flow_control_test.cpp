// A slow client must hold the target back through SSH flow control, not make the bastion
// buffer what the target sends.
#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <sstream>

#include "tests/support/harness.h"

namespace portcullis::e2e {
namespace {

// Resident memory of the portcullisd serving `config_file`, in KiB (0 if not found).
long daemon_rss_kib(const fs::path& config_file) {
  const RunResult pids = run({"pgrep", "-f", "portcullisd -c " + config_file.string()});
  std::istringstream lines(pids.out);
  std::string pid;
  if (!(lines >> pid)) return 0;
  std::ifstream status("/proc/" + pid + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

TEST(FlowControl, SlowClientDoesNotGrowDaemonMemory) {
  Gateway gw;
  const long before = daemon_rss_kib(gw.bastion.config_file());
  ASSERT_GT(before, 0) << "cannot find the daemon's memory use";

  // The reader sleeps before draining: 256 MiB from the target must wait in the SSH windows.
  std::vector<std::string> ssh = ssh_client_options(gw.user_key.private_key, gw.bastion.port());
  std::string command = "ssh";
  for (const std::string& arg : ssh) command += " '" + arg + "'";
  command += " '" + gw.login() + "@127.0.0.1' 'head -c 256M /dev/zero' | (sleep 5; wc -c)";
  auto transfer = std::async(std::launch::async, [&] {
    return run({"sh", "-c", command}, RunOptions().with_timeout(120s));
  });

  std::this_thread::sleep_for(3500ms);
  const long stalled = daemon_rss_kib(gw.bastion.config_file());
  const RunResult r = transfer.get();

  EXPECT_EQ(r.exit_status, 0) << r.err;
  EXPECT_EQ(r.out, std::to_string(256L * 1024 * 1024) + "\n") << "bytes lost or added";
  // Windows, socket buffers, the recording's compressor and its backlog (at most 8 MiB) account
  // for some MiB (more under AddressSanitizer); 256 MiB buffered would be unmistakable.
  EXPECT_LT(stalled - before, 64L * 1024) << "daemon RSS grew from " << before << " KiB to "
                                          << stalled << " KiB while the client was not reading";
}

}  // namespace
}  // namespace portcullis::e2e
