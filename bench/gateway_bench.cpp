// Portcullis against OpenSSH, measured side by side in one run on this machine over the routes
// of bench/routes.h (direct, jump, bastion) and one more:
//   unrecorded - ssh through a second portcullisd whose recording cannot start (its spool folder
//            is impossible) and which is told to carry on: what recording costs
//   watched - ssh through a third portcullisd with an [[alert_rule]] on the target: what
//            following the screen for command alerts costs, on a log cat under a pty
// Every figure is reported with its ratio to the OpenSSH jump host, because absolute numbers
// on shared machines mean little. Usage: gateway_bench [--mib N] [--connects N] [--markdown FILE]
#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "bench/options.h"
#include "bench/routes.h"
#include "tests/support/harness.h"

namespace portcullis::bench {
namespace {

using namespace e2e;

struct Options {
  int mib = 1024;
  int connects = 30;
  std::string markdown;
};

Options parse_options(int argc, char** argv) {
  Options options;
  FlagParser()
      .number("--mib", options.mib)
      .number("--connects", options.connects)
      .text("--markdown", options.markdown)
      .parse(argc, argv);
  return options;
}

// A second node on the same database that records nothing: its spool folder cannot exist, and
// on_record_failure = "continue" lets sessions run on unrecorded.
std::unique_ptr<Bastion> unrecorded_node(const Bastion& primary) {
  auto node = std::make_unique<Bastion>(primary, "unrecorded");
  node->record_nothing();
  node->start();
  return node;
}

// A third node whose [[alert_rule]] watches every target: each session's screen is followed.
std::unique_ptr<Bastion> watched_node(const Bastion& primary) {
  auto node = std::make_unique<Bastion>(primary, "watched");
  node->append_config("[[alert_rule]]\nname = \"wipe\"\ntargets = [\"*\"]\nmatch = \"rm -rf /\"\n");
  node->start();
  return node;
}

class Setup {
 public:
  Setup()
      : unrecorded_(unrecorded_node(routes_.gateway().bastion)),
        watched_(watched_node(routes_.gateway().bastion)) {}

  std::vector<Route> routes() const {
    return {routes_.direct(), routes_.jump(), routes_.bastion(),
            routes_.bastion_node("unrecorded", unrecorded_->port())};
  }

  // The bastion and the same with an alert rule, for the cost of command alerts.
  std::vector<Route> alert_routes() const {
    return {routes_.bastion(), routes_.bastion_node("watched", watched_->port())};
  }

  // The bastion process behind a route, if it is one of ours.
  std::optional<pid_t> daemon_of(const Route& route) const {
    if (route.name == "bastion") return routes_.gateway().bastion.pid();
    if (route.name == "unrecorded") return unrecorded_->pid();
    if (route.name == "watched") return watched_->pid();
    return std::nullopt;
  }

  void wait_for_shipping() const {
    routes_.wait_for_shipping();
    const fs::path spool = watched_->dir() / "state/spool";
    wait_until([&] { return fs::is_empty(spool); }, std::chrono::minutes(5));
  }

 private:
  Routes routes_;
  std::unique_ptr<Bastion> unrecorded_;
  std::unique_ptr<Bastion> watched_;
};

double seconds_of(const RunResult& result) {
  return std::chrono::duration<double>(result.elapsed).count();
}

RunResult run_route(const Route& route, const std::string& command, const RunOptions& options) {
  RunResult result = run(concat(concat({"ssh"}, route.ssh), {command}), options);
  if (result.exit_status != 0) {
    throw std::runtime_error(route.name + ": `" + command + "` failed: " + result.err);
  }
  return result;
}

double download_mib_per_s(const Route& route, int mib) {
  RunOptions options;
  options.stdout_file = "/dev/null";
  options.timeout = std::chrono::minutes(10);
  RunResult r = run_route(route, "head -c " + std::to_string(mib) + "M /dev/zero", options);
  return mib / seconds_of(r);
}

double upload_mib_per_s(const Route& route, int mib, const fs::path& zeros) {
  RunOptions options;
  options.stdin_file = zeros;
  options.timeout = std::chrono::minutes(10);
  RunResult r = run_route(route, "cat > /dev/null", options);
  return mib / seconds_of(r);
}

// `cat` of a big log in an interactive session (a pty): text lines the terminal must draw and
// scroll, the worst case for a follower that reads the screen.
double log_cat_mib_per_s(const Route& route, int mib) {
  RunOptions options;
  options.stdout_file = "/dev/null";
  options.timeout = std::chrono::minutes(10);
  const std::string line =
      "2026-12-02T07:30:00.123Z INFO api request served in 12 ms from 10.0.0.17 path=/v1/items";
  RunResult result = run(concat(concat({"ssh", "-tt"}, route.ssh),
                                {"yes '" + line + "' | head -c " + std::to_string(mib) + "M"}),
                         options);
  if (result.exit_status != 0) throw std::runtime_error(route.name + ": log cat failed");
  return mib / seconds_of(result);
}

double median_connect_ms(const Route& route, int count) {
  std::vector<double> samples;
  for (int i = 0; i < count; ++i) {
    samples.push_back(seconds_of(run_route(route, "true", {})) * 1000.0);
  }
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

struct Row {
  std::string benchmark;
  std::string unit;
  bool higher_is_better;
  std::map<std::string, double> value;        // by route name
  std::map<std::string, double> cpu_per_gib;  // portcullisd CPU seconds, bastion routes only
};

// Runs one transfer of `mib` and returns MiB/s, noting the bastion's CPU time per GiB: unlike
// throughput, CPU time hardly depends on what else the machine is doing.
template <typename Transfer>
void measure_transfer(Row& row, const Route& route, const Setup& setup, int mib,
                      Transfer transfer) {
  const std::optional<pid_t> daemon = setup.daemon_of(route);
  const double cpu_before = daemon ? cpu_seconds(*daemon) : 0;
  row.value[route.name] = transfer();
  if (daemon) row.cpu_per_gib[route.name] = (cpu_seconds(*daemon) - cpu_before) * 1024.0 / mib;
}

// The log cat through the bastion without and with an alert rule.
std::string render_alert_cost(const Row& row, int mib) {
  const double plain = row.value.at("bastion");
  const double watched = row.value.at("watched");
  const double cpu_plain = row.cpu_per_gib.at("bastion");
  const double cpu_watched = row.cpu_per_gib.at("watched");
  std::ostringstream out;
  out << "\nCommand alert cost (`cat` of a " << mib
      << " MiB log under a pty, recording on, without and with an [[alert_rule]] watching the "
         "target):\n\n"
      << "| benchmark | no rule | rule | cost | portcullisd CPU s/GiB no rule | rule | CPU cost "
         "|\n|---|---|---|---|---|---|---|\n"
      << "| " << row.benchmark << " (" << row.unit << ") | " << fixed(plain, 1) << " | "
      << fixed(watched, 1) << " | " << fixed(100.0 * (1.0 - watched / plain), 1) << "% | "
      << fixed(cpu_plain, 2) << " | " << fixed(cpu_watched, 2) << " | "
      << fixed(100.0 * (cpu_watched / cpu_plain - 1.0), 1) << "% |\n";
  return out.str();
}

std::string render(const std::vector<Row>& rows, const Options& options) {
  std::ostringstream out;
  out << "| benchmark | direct | OpenSSH jump host | Portcullis | Portcullis / jump host |\n"
      << "|---|---|---|---|---|\n";
  for (const Row& row : rows) {
    double ratio = row.value.at("bastion") / row.value.at("jump");
    out << "| " << row.benchmark << " (" << row.unit << ") | " << fixed(row.value.at("direct"), 1)
        << " | " << fixed(row.value.at("jump"), 1) << " | " << fixed(row.value.at("bastion"), 1)
        << " | " << fixed(ratio, 2) << "x"
        << (row.higher_is_better ? " (higher is better)" : " (lower is better)") << " |\n";
  }
  out << "\n"
      << options.mib << " MiB per transfer, median of " << options.connects << " connections.\n\n"
      << "Recording cost (Portcullis recording every byte vs the same bastion with recording "
         "off):\n\n"
      << "| benchmark | recorded | unrecorded | cost | portcullisd CPU s/GiB recorded | "
         "unrecorded | CPU cost |\n|---|---|---|---|---|---|---|\n";
  for (const Row& row : rows) {
    if (!row.higher_is_better) continue;
    const double recorded = row.value.at("bastion");
    const double unrecorded = row.value.at("unrecorded");
    const double cpu_recorded = row.cpu_per_gib.at("bastion");
    const double cpu_unrecorded = row.cpu_per_gib.at("unrecorded");
    out << "| " << row.benchmark << " (" << row.unit << ") | " << fixed(recorded, 1) << " | "
        << fixed(unrecorded, 1) << " | " << fixed(100.0 * (1.0 - recorded / unrecorded), 1)
        << "% | " << fixed(cpu_recorded, 2) << " | " << fixed(cpu_unrecorded, 2) << " | "
        << fixed(100.0 * (cpu_recorded / cpu_unrecorded - 1.0), 1) << "% |\n";
  }
  return out.str();
}

}  // namespace
}  // namespace portcullis::bench

int main(int argc, char** argv) {
  using namespace portcullis::bench;
  try {
    Options options = parse_options(argc, argv);
    Setup setup;
    TempDir scratch("portcullis-bench");
    fs::path zeros = scratch / "zeros";
    run_checked({"truncate", "-s", std::to_string(options.mib) + "M", zeros.string()});

    std::vector<Row> rows{{"download", "MiB/s", true, {}, {}},
                          {"upload", "MiB/s", true, {}, {}},
                          {"connect + exec `true`", "ms", false, {}, {}}};
    for (const Route& route : setup.routes()) {
      std::cerr << "measuring " << route.name << "...\n";
      measure_transfer(rows[0], route, setup, options.mib,
                       [&] { return download_mib_per_s(route, options.mib); });
      setup.wait_for_shipping();
      measure_transfer(rows[1], route, setup, options.mib,
                       [&] { return upload_mib_per_s(route, options.mib, zeros); });
      setup.wait_for_shipping();
      rows[2].value[route.name] = median_connect_ms(route, options.connects);
      setup.wait_for_shipping();
    }
    Row log_cat{"log cat", "MiB/s", true, {}, {}};
    for (const Route& route : setup.alert_routes()) {
      std::cerr << "measuring a log cat through " << route.name << "...\n";
      measure_transfer(log_cat, route, setup, options.mib,
                       [&] { return log_cat_mib_per_s(route, options.mib); });
      setup.wait_for_shipping();
    }
    std::string table = render(rows, options) + render_alert_cost(log_cat, options.mib);
    publish(table, options.markdown);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "gateway_bench: " << e.what() << "\n";
    return 1;
  }
}
