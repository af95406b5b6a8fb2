// Watch lag: how long after a line reaches the watched user's terminal an auditor watching from
// the other node sees it (issue 16: at most 1 s at p99). Two portcullisd nodes on one database,
// alice's shell through node A, carol's `ssh -t watch` through node B, both real ssh clients
// under ptys; the samples are spaced irregularly so they fall anywhere in the chunk and look
// cycles. There is nothing to compare with OpenSSH: it has no live view.
// It exits non-zero when a line never shows on the watcher's screen, never for a missed target.
// Usage: watch_bench [--samples N] [--gap-ms N] [--markdown FILE]
#include <algorithm>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "bench/options.h"
#include "tests/support/harness.h"

namespace portcullis::bench {
namespace {

using namespace e2e;
using Clock = std::chrono::steady_clock;

struct Options {
  int samples = 100;
  int gap_ms = 300;  // mean pause between lines
  std::string markdown;
};

double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values.at(index);
}

std::vector<double> measure(const Options& options) {
  Gateway gateway;
  const KeyPair carol = gateway.bastion.add_user("carol", {"auditor"});
  Bastion node_b(gateway.bastion, "node-b");
  node_b.start();
  PtySession shell(
      ssh_tty_command(gateway.user_key.private_key, gateway.bastion.port(), gateway.login(), {}));
  shell.write("echo ready-$((1+1))\r");
  if (!shell.expect("ready-2", std::chrono::seconds(15))) {
    throw std::runtime_error("the shell did not start: " + shell.transcript());
  }
  const nlohmann::json sessions =
      nlohmann::json::parse(gateway.bastion.cli_checked({"session", "list", "--active", "--json"}));
  const std::string id = std::to_string(sessions.at(0).at("id").get<long long>());
  PtySession watcher(ssh_tty_command(carol.private_key, node_b.port(), "carol", {"watch", id}));
  if (!watcher.expect("ready-2", std::chrono::seconds(15))) {
    throw std::runtime_error("the watcher never showed the session: " + watcher.transcript());
  }
  std::mt19937 random(42);
  std::uniform_int_distribution<int> gap(options.gap_ms / 2, options.gap_ms * 3 / 2);
  std::vector<double> lag_ms;
  for (int i = 0; i < options.samples; ++i) {
    // The shell prints the line only once it ran: the pattern is not in what was typed.
    shell.write("echo mark-" + std::to_string(i) + "-$((6*7))\r");
    const std::string mark = "mark-" + std::to_string(i) + "-42";
    if (!shell.expect(mark, std::chrono::seconds(10))) {
      throw std::runtime_error("the shell did not print " + mark);
    }
    const auto shown = Clock::now();
    if (!watcher.expect(mark, std::chrono::seconds(10))) {
      throw std::runtime_error("the watcher did not show " + mark + " within 10 s");
    }
    lag_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - shown).count());
    std::this_thread::sleep_for(std::chrono::milliseconds(gap(random)));
  }
  watcher.write("q");
  watcher.wait_exit(std::chrono::seconds(10));
  shell.write("exit\r");
  shell.wait_exit(std::chrono::seconds(10));
  return lag_ms;
}

}  // namespace
}  // namespace portcullis::bench

int main(int argc, char** argv) {
  using namespace portcullis::bench;
  Options options;
  try {
    FlagParser()
        .number("--samples", options.samples)
        .number("--gap-ms", options.gap_ms)
        .text("--markdown", options.markdown)
        .parse(argc, argv);
    if (options.samples < 1) throw std::invalid_argument("--samples must be at least 1");
    const std::vector<double> lag = measure(options);
    const double p50 = percentile(lag, 0.5), p99 = percentile(lag, 0.99);
    const double max = *std::max_element(lag.begin(), lag.end());
    std::ostringstream table;
    table << "| samples | p50 (ms) | p99 (ms) | max (ms) | target p99 |\n"
          << "|---|---|---|---|---|\n"
          << "| " << lag.size() << " | " << static_cast<int>(p50) << " | " << static_cast<int>(p99)
          << " | " << static_cast<int>(max) << " | <= 1000 ms" << (p99 <= 1000 ? "" : " (MISSED)")
          << " |\n";
    std::cout << table.str();
    if (!options.markdown.empty()) std::ofstream(options.markdown) << table.str();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "watch_bench: " << e.what() << "\n";
    return 1;
  }
}
