// Portcullis against OpenSSH, measured side by side in one run on this machine over the routes
// of bench/routes.h (direct, jump, bastion) and one more:
//   unrecorded - ssh through a second portcullisd whose recording cannot start (its spool folder
//            is impossible) and which is told to carry on: what recording costs
//   watched - ssh through a third portcullisd with an [[alert_rule]] on the target: what
//            following the screen for command alerts costs, on a log cat under a pty
// Every figure is reported with its ratio to the OpenSSH jump host, because absolute numbers
// on shared machines mean little. Besides one transfer at a time, K downloads at once (K = 2
// and K = the number of CPUs) through the jump host and the recording bastion, aggregate MiB/s.
// Usage: gateway_bench [--mib N] [--connects N] [--markdown FILE]
//                      [--sections download,upload,connect,log-cat,parallel]
//                      [--routes direct,jump,bastion,unrecorded] [--perf DIR]
//   --sections and --routes measure only those (for profiling; the report then shows what ran)
//   --perf DIR: `perf record` on portcullisd during each transfer through one of our nodes,
//               one file per route and transfer in DIR (read with `perf report -i FILE`)
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
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
  std::string sections = "download,upload,connect,log-cat,parallel";
  std::string routes = "direct,jump,bastion,unrecorded";
  std::string perf_dir;

  bool section(std::string_view name) const { return listed(sections, name); }
  bool route(std::string_view name) const { return listed(routes, name); }

  static bool listed(std::string_view list, std::string_view name) {
    while (!list.empty()) {
      const std::size_t comma = list.find(',');
      if (list.substr(0, comma) == name) return true;
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
    return false;
  }
};

Options parse_options(int argc, char** argv) {
  Options options;
  FlagParser()
      .number("--mib", options.mib)
      .number("--connects", options.connects)
      .text("--markdown", options.markdown)
      .text("--sections", options.sections)
      .text("--routes", options.routes)
      .text("--perf", options.perf_dir)
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

  std::vector<Route> routes(const Options& options) const {
    std::vector<Route> chosen;
    for (Route route : {routes_.direct(), routes_.jump(), routes_.bastion(),
                        routes_.bastion_node("unrecorded", unrecorded_->port())}) {
      if (options.route(route.name)) chosen.push_back(std::move(route));
    }
    return chosen;
  }

  // The routes compared for downloads at once: OpenSSH's jump host and the recording bastion.
  std::vector<Route> parallel_routes() const { return {routes_.jump(), routes_.bastion()}; }

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
  // PostgreSQL's CPU seconds per GiB from the start of the transfer until the recording is
  // stored (live shipping, then the end of the session): bastion routes only.
  std::map<std::string, double> database_cpu_per_gib;
};

// CPU seconds of the whole PostgreSQL cluster so far: the postmaster, its running backends and
// those it reaped (in 10 ms ticks).
double database_cpu_seconds() {
  const pid_t server = PostgresCluster::shared().server_pid();
  if (server <= 0) return 0;
  double total = cpu_seconds(server) + reaped_children_cpu_seconds(server);
  for (pid_t backend : descendants(server)) total += cpu_seconds(backend);
  return total;
}

// `perf record` of one portcullisd for as long as this lives (--perf): every thread, with call
// graphs from DWARF unwinding (the Release build keeps no frame pointers), 999 samples a second.
class PerfCapture {
 public:
  PerfCapture(const std::string& dir, const std::string& name, std::optional<pid_t> daemon) {
    if (dir.empty() || !daemon) return;
    fs::create_directories(dir);
    const fs::path data = fs::path(dir) / (name + ".data");
    process_ = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{"perf", "record", "-F", "999", "--call-graph", "dwarf,16384", "-p",
                                 std::to_string(*daemon), "-o", data.string()},
        fs::path(dir) / (name + ".log"));
    // perf attaches in a few ms; a transfer that began before would go partly unseen.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ~PerfCapture() {
    if (process_) process_->stop(SIGINT, std::chrono::minutes(2));
  }
  PerfCapture(const PerfCapture&) = delete;
  PerfCapture& operator=(const PerfCapture&) = delete;

 private:
  std::unique_ptr<BackgroundProcess> process_;
};

// Runs one transfer of `mib` and returns MiB/s, noting the bastion's CPU time per GiB: unlike
// throughput, CPU time hardly depends on what else the machine is doing.
template <typename Transfer>
void measure_transfer(Row& row, const Route& route, const Setup& setup, int mib,
                      const Options& options, Transfer transfer) {
  const std::optional<pid_t> daemon = setup.daemon_of(route);
  PerfCapture perf(options.perf_dir, route.name + "-" + row.benchmark, daemon);
  const double cpu_before = daemon ? cpu_seconds(*daemon) : 0;
  const double database_before = database_cpu_seconds();
  row.value[route.name] = transfer();
  if (!daemon) return;
  row.cpu_per_gib[route.name] = (cpu_seconds(*daemon) - cpu_before) * 1024.0 / mib;
  setup.wait_for_shipping();
  row.database_cpu_per_gib[route.name] = (database_cpu_seconds() - database_before) * 1024.0 / mib;
}

// `clients` downloads of `mib` each at the same time through `route`: aggregate MiB/s, from the
// first start to the last end, and the bastion's CPU per GiB moved.
struct ParallelFigures {
  double mib_per_s = 0;
  std::optional<double> cpu_per_gib;
};

ParallelFigures parallel_downloads(const Route& route, const Setup& setup, int clients, int mib) {
  const std::optional<pid_t> daemon = setup.daemon_of(route);
  const double cpu_before = daemon ? cpu_seconds(*daemon) : 0;
  std::vector<std::thread> threads;
  std::vector<std::string> failures(static_cast<std::size_t>(clients));
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      try {
        RunOptions run_options;
        run_options.stdout_file = "/dev/null";
        run_options.timeout = std::chrono::minutes(10);
        run_route(route, "head -c " + std::to_string(mib) + "M /dev/zero", run_options);
      } catch (const std::exception& e) {
        failures[static_cast<std::size_t>(i)] = e.what();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  for (const std::string& failure : failures) {
    if (!failure.empty()) throw std::runtime_error(failure);
  }
  ParallelFigures figures;
  const double total_mib = static_cast<double>(clients) * mib;
  figures.mib_per_s = total_mib / elapsed;
  if (daemon) figures.cpu_per_gib = (cpu_seconds(*daemon) - cpu_before) * 1024.0 / total_mib;
  return figures;
}

// 2 and (when it differs) as many as the machine has CPUs.
std::vector<int> parallel_counts() {
  const int cpus = static_cast<int>(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN)));
  std::vector<int> counts{2};
  if (cpus != 2) counts.push_back(cpus);
  return counts;
}

std::string render_parallel(const std::map<int, std::map<std::string, ParallelFigures>>& runs,
                            int mib) {
  std::ostringstream out;
  out << "\nDownloads at once (each " << mib
      << " MiB, `head -c` from the target; aggregate MiB/s from the first start to the last "
         "end; recording on):\n\n"
      << "| downloads at once | OpenSSH jump host (MiB/s) | Portcullis (MiB/s) | Portcullis / "
         "jump host | portcullisd CPU s/GiB |\n|---|---|---|---|---|\n";
  for (const auto& [clients, by_route] : runs) {
    const ParallelFigures& jump = by_route.at("jump");
    const ParallelFigures& bastion = by_route.at("bastion");
    out << "| " << clients << " | " << fixed(jump.mib_per_s, 1) << " | "
        << fixed(bastion.mib_per_s, 1) << " | " << fixed(bastion.mib_per_s / jump.mib_per_s, 2)
        << "x (higher is better) | "
        << (bastion.cpu_per_gib ? fixed(*bastion.cpu_per_gib, 2) : std::string("-")) << " |\n";
  }
  return out.str();
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

// A cell: the value of `route` in `row`, or "-" when that route was not measured.
std::string cell(const std::map<std::string, double>& values, const std::string& route,
                 int digits) {
  const auto found = values.find(route);
  return found == values.end() ? "-" : fixed(found->second, digits);
}

std::string ratio_cell(const std::map<std::string, double>& values, const std::string& ours,
                       const std::string& theirs, const std::string& suffix) {
  const auto a = values.find(ours);
  const auto b = values.find(theirs);
  if (a == values.end() || b == values.end() || b->second == 0) return "-";
  return fixed(a->second / b->second, 2) + suffix;
}

std::string cost_cell(const std::map<std::string, double>& values, bool lower_is_cost) {
  const auto a = values.find("bastion");
  const auto b = values.find("unrecorded");
  if (a == values.end() || b == values.end() || b->second == 0 || a->second == 0) return "-";
  return fixed(100.0 * (lower_is_cost ? 1.0 - a->second / b->second : a->second / b->second - 1.0),
               1) +
         "%";
}

std::string render(const std::vector<Row>& rows, const Options& options) {
  std::ostringstream out;
  out << "| benchmark | direct | OpenSSH jump host | Portcullis | Portcullis / jump host |\n"
      << "|---|---|---|---|---|\n";
  for (const Row& row : rows) {
    if (row.value.empty()) continue;
    out << "| " << row.benchmark << " (" << row.unit << ") | " << cell(row.value, "direct", 1)
        << " | " << cell(row.value, "jump", 1) << " | " << cell(row.value, "bastion", 1) << " | "
        << ratio_cell(row.value, "bastion", "jump",
                      row.higher_is_better ? "x (higher is better)" : "x (lower is better)")
        << " |\n";
  }
  out << "\n"
      << options.mib << " MiB per transfer, median of " << options.connects << " connections.\n\n"
      << "Recording cost (Portcullis recording every byte vs the same bastion with recording "
         "off):\n\n"
      << "| benchmark | recorded | unrecorded | cost | portcullisd CPU s/GiB recorded | "
         "unrecorded | CPU cost | PostgreSQL CPU s/GiB recorded | unrecorded |\n"
         "|---|---|---|---|---|---|---|---|---|\n";
  for (const Row& row : rows) {
    if (!row.higher_is_better || row.value.empty()) continue;
    out << "| " << row.benchmark << " (" << row.unit << ") | " << cell(row.value, "bastion", 1)
        << " | " << cell(row.value, "unrecorded", 1) << " | " << cost_cell(row.value, true) << " | "
        << cell(row.cpu_per_gib, "bastion", 2) << " | " << cell(row.cpu_per_gib, "unrecorded", 2)
        << " | " << cost_cell(row.cpu_per_gib, false) << " | "
        << cell(row.database_cpu_per_gib, "bastion", 2) << " | "
        << cell(row.database_cpu_per_gib, "unrecorded", 2) << " |\n";
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

    std::vector<Row> rows{{"download", "MiB/s", true, {}, {}, {}},
                          {"upload", "MiB/s", true, {}, {}, {}},
                          {"connect + exec `true`", "ms", false, {}, {}, {}}};
    for (const Route& route : setup.routes(options)) {
      std::cerr << "measuring " << route.name << "...\n";
      if (options.section("download")) {
        measure_transfer(rows[0], route, setup, options.mib, options,
                         [&] { return download_mib_per_s(route, options.mib); });
        setup.wait_for_shipping();
      }
      if (options.section("upload")) {
        measure_transfer(rows[1], route, setup, options.mib, options,
                         [&] { return upload_mib_per_s(route, options.mib, zeros); });
        setup.wait_for_shipping();
      }
      if (options.section("connect")) {
        rows[2].value[route.name] = median_connect_ms(route, options.connects);
        setup.wait_for_shipping();
      }
    }
    std::string report = render(rows, options);
    if (options.section("parallel")) {
      std::map<int, std::map<std::string, ParallelFigures>> runs;
      for (int clients : parallel_counts()) {
        for (const Route& route : setup.parallel_routes()) {
          std::cerr << "measuring " << clients << " downloads at once through " << route.name
                    << "...\n";
          runs[clients][route.name] = parallel_downloads(route, setup, clients, options.mib);
          setup.wait_for_shipping();
        }
      }
      report += render_parallel(runs, options.mib);
    }
    if (options.section("log-cat")) {
      Row log_cat{"log cat", "MiB/s", true, {}, {}, {}};
      for (const Route& route : setup.alert_routes()) {
        std::cerr << "measuring a log cat through " << route.name << "...\n";
        measure_transfer(log_cat, route, setup, options.mib, options,
                         [&] { return log_cat_mib_per_s(route, options.mib); });
        setup.wait_for_shipping();
      }
      report += render_alert_cost(log_cat, options.mib);
    }
    publish(report, options.markdown);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "gateway_bench: " << e.what() << "\n";
    return 1;
  }
}
