// What one portcullisd holds, and how promptly it lets go, measured beside OpenSSH in one run:
//   concurrency - N interactive sessions at once (real `ssh -tt` clients running `cat` on a real
//                 sshd), each typing a line a second and reading its echo back, through
//                 portcullisd recording every byte (syncing each spool file alone, then, on a
//                 second node, all of them with one syncfs), through a node that records nothing,
//                 through a node that ships recordings only when sessions end ([recording]
//                 live_shipping = false: what live shipping costs), and through OpenSSH as a jump
//                 host (ssh -W through a second sshd). Memory per session, and CPU over a steady
//                 window while every session types.
//   mass expiry - M sessions of M users whose grants all end at the same second: how late after
//                 that second each client is disconnected, and whether it was told why.
// Usage: scale_bench [--sessions N] [--expiry-sessions M] [--window SECONDS] [--batch K]
//                    [--routes all|live-shipping] [--daemon-cpus auto|none|LIST]
//                    [--others-cpus LIST] [--markdown FILE]
//                    (0 sessions skips that benchmark; --routes live-shipping measures only the
//                    two routes that tell what live shipping costs)
//   --daemon-cpus: the CPUs every portcullisd runs on; everything else (clients, sshd targets
//                  and jump host, PostgreSQL, the CLI) runs on --others-cpus, by default the
//                  CPUs left. "auto" (the default): the first CPU this process may use for the
//                  daemons, the rest for the others, when there are two or more; "none": no
//                  placement, everything shares every CPU.
// Exits non-zero when a session dies, misses an echo, or outlives its grant; a performance
// target that is missed is only reported.
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/options.h"
#include "bench/routes.h"
#include "tests/support/harness.h"
#include "tests/support/prometheus.h"

namespace portcullis::bench {
namespace {

using namespace e2e;
using Clock = std::chrono::steady_clock;
using WallClock = std::chrono::system_clock;

struct Options {
  int sessions = 1000;
  int expiry_sessions = 500;
  int window_s = 30;
  int batch = 50;              // clients connecting at the same time during a ramp
  std::string routes = "all";  // or "live-shipping"
  std::string daemon_cpus = "auto";
  std::string others_cpus;
  std::string markdown;
};

Options parse_options(int argc, char** argv) {
  Options options;
  FlagParser()
      .number("--sessions", options.sessions)
      .number("--expiry-sessions", options.expiry_sessions)
      .number("--window", options.window_s)
      .number("--batch", options.batch)
      .text("--routes", options.routes)
      .text("--daemon-cpus", options.daemon_cpus)
      .text("--others-cpus", options.others_cpus)
      .text("--markdown", options.markdown)
      .parse(argc, argv);
  options.batch = std::max(1, options.batch);
  if (options.routes != "all" && options.routes != "live-shipping") {
    throw std::invalid_argument("--routes is \"all\" or \"live-shipping\", not \"" +
                                options.routes + "\"");
  }
  return options;
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Which CPUs the daemons run on and which everything else does; both empty: no placement.
struct Placement {
  std::vector<int> daemon;
  std::vector<int> others;
  bool placed() const { return !daemon.empty(); }
};

Placement choose_placement(const Options& options) {
  Placement placement;
  const std::vector<int> allowed = allowed_cpus();
  if (options.daemon_cpus == "none") return placement;
  if (options.daemon_cpus == "auto") {
    if (allowed.size() < 2) return placement;
    placement.daemon = {allowed.front()};
  } else {
    placement.daemon = parse_cpu_list(options.daemon_cpus);
  }
  if (!options.others_cpus.empty()) {
    placement.others = parse_cpu_list(options.others_cpus);
  } else {
    for (int cpu : allowed) {
      if (std::find(placement.daemon.begin(), placement.daemon.end(), cpu) ==
          placement.daemon.end()) {
        placement.others.push_back(cpu);
      }
    }
  }
  if (placement.others.empty()) {
    throw std::invalid_argument("--daemon-cpus " + options.daemon_cpus +
                                " leaves no CPU for the clients, targets and database: name "
                                "them with --others-cpus, or use --daemon-cpus none");
  }
  return placement;
}

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Time portcullisd's event loops spent on a CPU and waiting in the run queue for one: the main
// thread (loop 0) and the threads named "loop N" ([server] threads), from each
// /proc/PID/task/TID/schedstat (nanoseconds).
struct SchedTimes {
  double running_ms = 0;
  double waiting_ms = 0;
  int loops = 0;
};
SchedTimes sched_times(pid_t pid) {
  SchedTimes times;
  std::error_code ec;
  const fs::path tasks = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& task : fs::directory_iterator(tasks, ec)) {
    std::ifstream comm_file(task.path() / "comm");
    std::ifstream stat_file(task.path() / "schedstat");
    std::string name;
    std::getline(comm_file, name);
    const bool main_thread = task.path().filename() == std::to_string(pid);
    if (!main_thread && !name.starts_with("loop ")) continue;
    double running_ns = 0;
    double waiting_ns = 0;
    if (!(stat_file >> running_ns >> waiting_ns)) continue;
    times.running_ms += running_ns / 1e6;
    times.waiting_ms += waiting_ns / 1e6;
    ++times.loops;
  }
  return times;
}

std::size_t open_fds(pid_t pid) {
  std::error_code ec;
  const fs::directory_iterator fds("/proc/" + std::to_string(pid) + "/fd", ec);
  return ec ? 0 : static_cast<std::size_t>(std::distance(fds, fs::directory_iterator()));
}

// ---------------------------------------------------------------------------------------------
// Clients typing

// Echo round trips of the lines typed between `from` and `to`.
struct LatencySamples {
  Clock::time_point from = Clock::time_point::max();
  Clock::time_point to = Clock::time_point::max();
  std::vector<double> ms;
};

// One real ssh client under `cat` on the far side, fed through a pipe: it types line 0 at once
// and, once that came back (the session is up), a numbered line a second at its own phase.
class TypingClient {
 public:
  TypingClient(const std::vector<std::string>& argv, Clock::duration phase)
      : process_(argv), phase_(phase) {
    type(Clock::now());
  }

  int output_fd() const { return process_.output(); }
  bool connected() const { return echoed_ > 0; }
  bool closed() const { return closed_at_.has_value(); }
  std::size_t typed() const { return typed_at_.size(); }
  std::size_t echoed() const { return echoed_; }
  bool caught_up() const { return echoed_ == typed(); }
  WallClock::time_point closed_at() const { return *closed_at_; }
  const std::string& output() const { return output_; }
  void stop_typing() { typing_ = false; }

  std::optional<Clock::time_point> next_line_due() const {
    if (!typing_ || !connected() || closed()) return std::nullopt;
    return connected_at_ + phase_ + std::chrono::seconds(typed() - 1);
  }

  void type(Clock::time_point now) {
    send(token(typed()) + "\n");
    typed_at_.push_back(now);
  }

  // Ctrl-D at the start of a line: `cat` reads end of file and the session ends normally.
  void hang_up() {
    stop_typing();
    send("\x04");
  }

  void read(Clock::time_point now, LatencySamples& samples) {
    char buffer[4096];
    while (true) {
      const ssize_t n = ::read(process_.output(), buffer, sizeof buffer);
      if (n > 0) {
        output_.append(buffer, static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
      closed_at_ = WallClock::now();
      process_.close_output();
      break;
    }
    note_echoes(now, samples);
  }

 private:
  static std::string token(std::size_t line) { return "#" + std::to_string(line) + "#"; }

  void send(const std::string& text) {
    if (process_.input() < 0) return;
    // A few bytes into an emptyish pipe: never short unless the client is gone.
    if (::write(process_.input(), text.data(), text.size()) < 0) process_.close_input();
  }

  // The pty echoes each line and `cat` repeats it; the first sighting counts.
  void note_echoes(Clock::time_point now, LatencySamples& samples) {
    while (echoed_ < typed()) {
      const std::string expected = token(echoed_);
      const auto at = output_.find(expected, scan_from_);
      if (at == std::string::npos) return;
      if (echoed_ == 0) connected_at_ = now;
      const Clock::time_point typed_at = typed_at_[echoed_];
      if (typed_at >= samples.from && typed_at < samples.to) {
        samples.ms.push_back(std::chrono::duration<double, std::milli>(now - typed_at).count());
      }
      scan_from_ = at + expected.size();
      ++echoed_;
    }
  }

  PipedProcess process_;
  Clock::duration phase_;
  bool typing_ = true;
  std::vector<Clock::time_point> typed_at_;
  std::size_t echoed_ = 0;
  std::size_t scan_from_ = 0;
  Clock::time_point connected_at_;
  std::string output_;
  std::optional<WallClock::time_point> closed_at_;
};

// Many typing clients driven by one poll loop.
class Fleet {
 public:
  // `command(i)`: the argv of client i.
  explicit Fleet(std::function<std::vector<std::string>(int)> command)
      : command_(std::move(command)) {}

  // Starts `count` clients, at most `in_flight` of them connecting at a time, until all are up
  // or one fails to come up within `timeout`; returns whether all came up.
  bool ramp(int count, int in_flight, Clock::duration timeout) {
    auto last_progress = Clock::now();
    std::size_t up = 0;
    while (up < static_cast<std::size_t>(count)) {
      while (clients_.size() < static_cast<std::size_t>(count) &&
             clients_.size() - up < static_cast<std::size_t>(in_flight)) {
        const auto phase = std::chrono::milliseconds(1000 * clients_.size() / count);
        clients_.push_back(
            std::make_unique<TypingClient>(command_(static_cast<int>(clients_.size())), phase));
      }
      step(Clock::now() + 50ms);
      const std::size_t now_up = connected();
      if (now_up > up) last_progress = Clock::now();
      up = now_up;
      if (dead() > 0 || Clock::now() - last_progress > timeout) return false;
    }
    return true;
  }

  // Polls, reads and types until `done()` holds or `deadline` passes; returns whether it held.
  bool run_until(const std::function<bool()>& done, Clock::time_point deadline) {
    while (!done()) {
      if (Clock::now() >= deadline) return false;
      step(deadline);
    }
    return true;
  }
  void run_for(Clock::duration how_long) {
    run_until([] { return false; }, Clock::now() + how_long);
  }

  void stop_typing() {
    for (auto& client : clients_) client->stop_typing();
  }
  void hang_up() {
    for (auto& client : clients_) client->hang_up();
  }

  std::size_t connected() const {
    return count_if([](const TypingClient& c) { return c.connected(); });
  }
  std::size_t alive() const {
    return count_if([](const TypingClient& c) { return c.connected() && !c.closed(); });
  }
  std::size_t closed() const {
    return count_if([](const TypingClient& c) { return c.closed(); });
  }
  std::size_t dead() const {  // closed before it ever came up
    return count_if([](const TypingClient& c) { return c.closed() && !c.connected(); });
  }
  std::size_t typed() const {
    return sum([](const TypingClient& c) { return c.typed(); });
  }
  std::size_t echoed() const {
    return sum([](const TypingClient& c) { return c.echoed(); });
  }
  bool all_caught_up() const {
    return count_if([](const TypingClient& c) { return c.closed() || c.caught_up(); }) ==
           clients_.size();
  }

  const std::vector<std::unique_ptr<TypingClient>>& clients() const { return clients_; }
  LatencySamples& samples() { return samples_; }

  // Which client failed first and the end of what it printed, for the report.
  std::string first_failure() const {
    const auto described = [](std::size_t i, const TypingClient& client) {
      const std::string& out = client.output();
      return "client " + std::to_string(i) + " (echoed " + std::to_string(client.echoed()) +
             " of " + std::to_string(client.typed()) +
             " lines) printed: " + out.substr(out.size() - std::min<std::size_t>(out.size(), 300));
    };
    for (std::size_t i = 0; i < clients_.size(); ++i) {
      if (clients_[i]->closed()) return described(i, *clients_[i]);
    }
    for (std::size_t i = 0; i < clients_.size(); ++i) {
      if (!clients_[i]->caught_up()) return described(i, *clients_[i]);
    }
    return "";
  }

 private:
  template <typename Predicate>
  std::size_t count_if(Predicate predicate) const {
    return static_cast<std::size_t>(std::count_if(
        clients_.begin(), clients_.end(), [&](const auto& client) { return predicate(*client); }));
  }
  template <typename Measure>
  std::size_t sum(Measure measure) const {
    std::size_t total = 0;
    for (const auto& client : clients_) total += measure(*client);
    return total;
  }

  // One poll over every open output, then the lines that are due; returns by `until`.
  void step(Clock::time_point until) {
    Clock::time_point wake = std::min(until, Clock::now() + 100ms);
    std::vector<pollfd> fds;
    std::vector<TypingClient*> owners;
    for (auto& client : clients_) {
      if (client->output_fd() >= 0) {
        fds.push_back({client->output_fd(), POLLIN, 0});
        owners.push_back(client.get());
      }
      if (const auto due = client->next_line_due()) wake = std::min(wake, *due);
    }
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(wake - Clock::now());
    ::poll(fds.data(), fds.size(), static_cast<int>(std::max<long>(0, wait.count())));
    const Clock::time_point now = Clock::now();
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents != 0) owners[i]->read(now, samples_);
    }
    for (auto& client : clients_) {
      const auto due = client->next_line_due();
      if (due && *due <= now) client->type(now);
    }
  }

  std::function<std::vector<std::string>(int)> command_;
  std::vector<std::unique_ptr<TypingClient>> clients_;
  LatencySamples samples_;
};

// ---------------------------------------------------------------------------------------------
// The fixtures

// sshd accepts only 10 unauthenticated connections at once by default, then drops some; so do
// the bastion's own limits (all clients come from one address here).
constexpr std::string_view kManyConnections = "MaxStartups 2000\n";
constexpr std::string_view kBastionManyConnections =
    "max_startups = \"2000\"\nper_source_max_startups = 2000\nmax_sessions_per_user = 2000";

class Setup {
 public:
  explicit Setup(const Placement& placement)
      : target_(kManyConnections),
        jump_(kManyConnections),
        unrecorded_(bastion_, "unrecorded"),
        synced_together_(bastion_, "synced-together"),
        shipped_at_the_end_(bastion_, "shipped-at-the-end"),
        metrics_port_(free_port()) {
    for (Bastion* node : {&bastion_, &unrecorded_, &synced_together_, &shipped_at_the_end_}) {
      node->add_server_config(kBastionManyConnections);
      node->run_on_cpus(placement.daemon);
    }
    // The daemon's own view of the mass expiry: its lateness histogram.
    bastion_.append_config("[metrics]\nlisten = \"127.0.0.1:" + std::to_string(metrics_port_) +
                           "\"\n");
    user_key_ = bastion_.add_user(user_);
    bastion_.add_target(target_name_, target_);
    bastion_.add_key_account(target_name_, target_);
    bastion_.add_grant(user_, target_name_, target_.account(), "4h");
    bastion_.start();
    unrecorded_.record_nothing();
    unrecorded_.start();
    synced_together_.add_recording_config("sync = \"filesystem\"");
    synced_together_.start();
    shipped_at_the_end_.add_recording_config("live_shipping = false");
    shipped_at_the_end_.start();
  }

  Bastion& bastion() { return bastion_; }
  const Bastion& unrecorded() const { return unrecorded_; }
  const Bastion& synced_together() const { return synced_together_; }
  const Bastion& shipped_at_the_end() const { return shipped_at_the_end_; }
  const TargetSshd& target() const { return target_; }
  const TargetSshd& jump() const { return jump_; }
  const KeyPair& user_key() const { return user_key_; }
  const std::string& target_name() const { return target_name_; }
  std::uint16_t metrics_port() const { return metrics_port_; }

  std::vector<std::string> through(const Bastion& node, const std::string& user) const {
    return ssh_tty_command(user_key_.private_key, node.port(), user + ":" + target_name_, {"cat"});
  }
  std::vector<std::string> through_bastion(const Bastion& node) const {
    return through(node, user_);
  }

  // ssh -J, spelled as the ProxyCommand it stands for so each hop has its own options.
  std::vector<std::string> through_jump_host() const {
    std::string hop = "ssh";
    for (const std::string& word :
         concat(ssh_client_options(jump_.account_key().private_key, jump_.port()),
                {"-W", "127.0.0.1:" + std::to_string(target_.port()),
                 jump_.account() + "@127.0.0.1"})) {
      hop += " " + word;
    }
    return concat({"ssh", "-tt"},
                  concat(ssh_client_options(target_.account_key().private_key, target_.port()),
                         {"-o", "ProxyCommand=" + hop, target_.account() + "@127.0.0.1", "cat"}));
  }

  // Shipping finished recordings takes CPU: the next measurement waits for it.
  void wait_for_shipping() const {
    const auto shipped = [](const Bastion& node) {
      return fs::is_empty(node.dir() / "state/spool");
    };
    if (!wait_until(
            [&] {
              return shipped(bastion_) && shipped(synced_together_) && shipped(shipped_at_the_end_);
            },
            std::chrono::minutes(5))) {
      throw std::runtime_error("recordings were not shipped within 5 minutes");
    }
  }

 private:
  TargetSshd target_;
  TargetSshd jump_;
  Bastion bastion_;
  Bastion unrecorded_;
  Bastion synced_together_;     // [recording] sync = "filesystem"
  Bastion shipped_at_the_end_;  // [recording] live_shipping = false
  std::uint16_t metrics_port_;  // the primary node's [metrics] listen
  KeyPair user_key_;
  std::string user_ = "alice";
  std::string target_name_ = "db01";
};

// ---------------------------------------------------------------------------------------------
// Concurrency

struct ConcurrencyFigures {
  std::string route;
  std::size_t sessions = 0;
  std::size_t alive = 0;
  std::size_t typed = 0;
  std::size_t echoed = 0;
  double ramp_s = 0;
  Footprint idle;
  Footprint loaded;
  double peak_rss_kib = 0;  // VmHWM, for a single process
  double cpu_percent = 0;   // of one core over the window
  double echo_p50_ms = 0;
  double echo_p99_ms = 0;
  std::size_t fds = 0;    // open with every session up, for a single process
  bool measured = false;  // every session came up and the window ran
  std::string failure;

  bool ok() const { return alive == sessions && echoed == typed && failure.empty(); }
  double rss_per_session_kib() const { return (loaded.rss_kib - idle.rss_kib) / sessions; }
  double pss_per_session_kib() const { return (loaded.pss_kib - idle.pss_kib) / sessions; }
};

// `serving()`: the processes that carry the sessions (portcullisd; the jump host's
// per-connection sshd processes).
ConcurrencyFigures measure_concurrency(const std::string& route, const Options& options,
                                       std::function<std::vector<std::string>(int)> command,
                                       const std::function<std::vector<pid_t>()>& serving) {
  ConcurrencyFigures figures;
  figures.route = route;
  figures.sessions = static_cast<std::size_t>(options.sessions);
  figures.idle = footprint(serving());
  std::cerr << route << ": connecting " << options.sessions << " sessions...\n";
  Fleet fleet(std::move(command));
  const auto ramp_started = Clock::now();
  if (!fleet.ramp(options.sessions, options.batch, 60s)) {
    figures.failure = std::to_string(fleet.connected()) + " of " +
                      std::to_string(options.sessions) + " sessions came up; " +
                      fleet.first_failure();
  }
  figures.ramp_s = seconds(Clock::now() - ramp_started);
  if (figures.failure.empty()) {
    std::cerr << route << ": all up after " << fixed(figures.ramp_s, 1) << " s; measuring "
              << options.window_s << " s...\n";
    fleet.run_for(3s);  // every client into its once-a-second rhythm
    const std::vector<pid_t> pids = serving();
    const Footprint before = footprint(pids);
    fleet.samples().from = Clock::now();
    fleet.run_for(std::chrono::seconds(options.window_s));
    fleet.samples().to = Clock::now();
    figures.loaded = footprint(pids);
    figures.measured = true;
    figures.cpu_percent = 100.0 * (figures.loaded.cpu_s - before.cpu_s) /
                          seconds(fleet.samples().to - fleet.samples().from);
    if (pids.size() == 1) {
      figures.peak_rss_kib = kib_field(pids[0], "status", "VmHWM:");
      figures.fds = open_fds(pids[0]);
    }
  }
  figures.alive = fleet.alive();
  fleet.stop_typing();
  fleet.run_until([&] { return fleet.all_caught_up(); }, Clock::now() + 15s);
  figures.typed = fleet.typed();
  figures.echoed = fleet.echoed();
  if (figures.failure.empty() && !figures.ok()) figures.failure = fleet.first_failure();
  figures.echo_p50_ms = percentile(fleet.samples().ms, 0.50);
  figures.echo_p99_ms = percentile(fleet.samples().ms, 0.99);
  fleet.hang_up();
  if (!fleet.run_until([&] { return fleet.closed() == fleet.clients().size(); },
                       Clock::now() + 60s)) {
    std::cerr << route << ": " << fleet.clients().size() - fleet.closed()
              << " sessions did not end on Ctrl-D; killing their clients\n";
  }
  return figures;
}

// Portcullis recording (each spool file synced alone, then all with one syncfs), Portcullis not
// recording, OpenSSH as a jump host: one after the other, so each has the machine to itself.
// The rows render_concurrency() compares.
constexpr std::string_view kRecordedRoute = "Portcullis, recording on";
constexpr std::string_view kSyncedTogetherRoute = "Portcullis, recording on, sync = \"filesystem\"";
constexpr std::string_view kShippedAtTheEndRoute =
    "Portcullis, recording on, live_shipping = false";
constexpr std::string_view kJumpHostRoute = "OpenSSH jump host (sshd, -W)";

std::vector<ConcurrencyFigures> measure_all_routes(Setup& setup, const Options& options) {
  const auto daemon = [](const Bastion& node) {
    return [&node] { return std::vector<pid_t>{node.pid()}; };
  };
  std::vector<ConcurrencyFigures> rows;
  rows.push_back(measure_concurrency(
      std::string(kRecordedRoute), options,
      [&](int) { return setup.through_bastion(setup.bastion()); }, daemon(setup.bastion())));
  setup.wait_for_shipping();
  rows.push_back(measure_concurrency(
      std::string(kShippedAtTheEndRoute), options,
      [&](int) { return setup.through_bastion(setup.shipped_at_the_end()); },
      daemon(setup.shipped_at_the_end())));
  setup.wait_for_shipping();
  if (options.routes == "live-shipping") return rows;
  rows.push_back(measure_concurrency(
      std::string(kSyncedTogetherRoute), options,
      [&](int) { return setup.through_bastion(setup.synced_together()); },
      daemon(setup.synced_together())));
  setup.wait_for_shipping();
  rows.push_back(measure_concurrency(
      "Portcullis, recording off", options,
      [&](int) { return setup.through_bastion(setup.unrecorded()); }, daemon(setup.unrecorded())));
  rows.push_back(measure_concurrency(
      std::string(kJumpHostRoute), options, [&](int) { return setup.through_jump_host(); },
      [&] { return descendants(setup.jump().pid()); }));
  setup.wait_for_shipping();
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Mass expiry

struct ExpiryFigures {
  std::size_t sessions = 0;
  std::size_t connected = 0;
  std::size_t closed_with_notice = 0;
  std::size_t ended_as_expired = 0;  // sessions the database records as grant_expired
  double lead_s = 0;                 // from setting the expiry to the expiry
  SchedTimes loop;                   // portcullisd's event loop from just before to all closed
  double daemon_cpu_ms = 0;          // every thread of portcullisd over the same window
  std::vector<double> lateness_s;
  // The daemon's portcullis_session_end_lateness_seconds{cause="expiry"} over the burst:
  // (upper bound, sessions) per bucket, cumulative as Prometheus writes them.
  std::vector<std::pair<double, double>> daemon_buckets;
  double daemon_sum_s = 0;
  double daemon_count = 0;
  // From the daemon's log: when it terminated each session, by this machine's clock (the
  // histogram uses the daemon's estimate of the database's clock).
  std::vector<double> logged_lateness_s;
  std::string placement;  // how CPUs were shared, for the report
  std::string failure;

  bool ok() const { return failure.empty() && closed_with_notice == sessions; }
};

// Runs `task(i)` for i in [0, count) on a few threads: the CLI mostly waits for PostgreSQL.
void in_parallel(int count, const std::function<void(int)>& task) {
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> errors(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (int i = t; i < count; i += kThreads) task(i);
      } catch (...) {
        errors[static_cast<std::size_t>(t)] = std::current_exception();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
}

std::string expiry_user(int i) {
  char name[16];
  std::snprintf(name, sizeof name, "exp%04d", i);
  return name;
}

// M users, each with a grant of its own, all sharing one key: returns the grant ids.
std::vector<std::string> add_expiring_grants(Setup& setup, int count) {
  std::vector<std::string> grants(static_cast<std::size_t>(count));
  const std::string key = setup.user_key().public_key().string();
  const std::string account = setup.target_name() + ":" + setup.target().account();
  in_parallel(count, [&](int i) {
    setup.bastion().cli_checked({"user", "add", expiry_user(i), "--key", key});
    grants[static_cast<std::size_t>(i)] = setup.bastion().cli_checked(
        {"grant", "add", expiry_user(i), account, "--for", "4h", "--reason", "mass expiry bench"});
  });
  return grants;
}

// The daemon's expiry lateness histogram as its /metrics endpoint shows it now.
struct LatenessHistogram {
  std::vector<std::pair<double, double>> buckets;  // (le, cumulative count), +Inf last
  double sum = 0;
  double count = 0;
};

LatenessHistogram scrape_expiry_lateness(std::uint16_t port) {
  const test::HttpResponse response = test::http_get(port, "/metrics");
  if (response.status != 200) {
    throw std::runtime_error("the bastion's /metrics answered " + std::to_string(response.status));
  }
  constexpr std::string_view kName = "portcullis_session_end_lateness_seconds";
  constexpr std::string_view kCause = "cause=\"expiry\"";
  LatenessHistogram histogram;
  std::istringstream in(response.body);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(kName) || line.find(kCause) == std::string::npos) continue;
    const std::size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    const double value = std::stod(line.substr(space + 1));
    const std::string_view suffix = std::string_view(line).substr(kName.size());
    if (suffix.starts_with("_bucket{")) {
      const std::size_t le = line.find("le=\"");
      if (le == std::string::npos) continue;
      const std::string bound = line.substr(le + 4, line.find('"', le + 4) - le - 4);
      histogram.buckets.emplace_back(
          bound == "+Inf" ? std::numeric_limits<double>::infinity() : std::stod(bound), value);
    } else if (suffix.starts_with("_sum")) {
      histogram.sum = value;
    } else if (suffix.starts_with("_count")) {
      histogram.count = value;
    }
  }
  return histogram;
}

// The bucket bound under which a fraction `p` of the observations fall ("<= 0.25 s").
std::string bucket_quantile(const std::vector<std::pair<double, double>>& buckets, double total,
                            double p) {
  if (total <= 0) return "-";
  for (const auto& [bound, count] : buckets) {
    if (count >= p * total) {
      return std::isinf(bound) ? "> " + fixed(buckets[buckets.size() - 2].first, 2) + " s"
                               : "<= " + fixed(bound, 2) + " s";
    }
  }
  return "-";
}

// Seconds after `expiry` at which the daemon logged "terminated: grant_expired" for a session
// ("2026-12-02T16:13:35.123Z info session=... terminated: grant_expired").
std::vector<double> logged_terminations(const std::string& log, WallClock::time_point expiry) {
  std::vector<double> lateness;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    if (line.find("terminated: grant_expired") == std::string::npos || line.size() < 24) continue;
    std::tm civil{};
    int millis = 0;
    if (std::sscanf(line.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &civil.tm_year, &civil.tm_mon,
                    &civil.tm_mday, &civil.tm_hour, &civil.tm_min, &civil.tm_sec, &millis) != 7) {
      continue;
    }
    civil.tm_year -= 1900;
    civil.tm_mon -= 1;
    const auto at = WallClock::from_time_t(::timegm(&civil)) + std::chrono::milliseconds(millis);
    lateness.push_back(std::chrono::duration<double>(at - expiry).count());
  }
  return lateness;
}

std::string join_ids(const std::vector<std::string>& ids) {
  std::string text;
  for (const auto& id : ids) text += (text.empty() ? "" : ",") + id;
  return text;
}

// The grants end on a whole second far enough ahead for every session to come up first.
ExpiryFigures measure_mass_expiry(Setup& setup, const Options& options,
                                  double connect_s_per_session) {
  ExpiryFigures figures;
  const int count = options.expiry_sessions;
  figures.sessions = static_cast<std::size_t>(count);
  std::cerr << "mass expiry: adding " << count << " users with a grant each...\n";
  const std::vector<std::string> grants = add_expiring_grants(setup, count);

  figures.lead_s = std::ceil(10.0 + 2.0 * connect_s_per_session * count);
  const auto expiry = std::chrono::time_point_cast<std::chrono::seconds>(WallClock::now()) +
                      std::chrono::seconds(static_cast<long>(figures.lead_s));
  const auto expiry_epoch = expiry.time_since_epoch().count();
  const std::string& database = setup.bastion().database();
  PostgresCluster::shared().query(database, "UPDATE grants SET expires_at = to_timestamp(" +
                                                std::to_string(expiry_epoch) + ") WHERE id IN (" +
                                                join_ids(grants) + ")");
  std::cerr << "mass expiry: the grants end in " << figures.lead_s << " s; connecting...\n";

  Fleet fleet([&](int i) { return setup.through(setup.bastion(), expiry_user(i)); });
  const bool all_up = fleet.ramp(count, options.batch, 60s);
  figures.connected = fleet.connected();
  if (!all_up || WallClock::now() >= expiry) {
    figures.failure = std::to_string(figures.connected) + " of " + std::to_string(count) +
                      " sessions came up before their grants ended; " + fleet.first_failure();
  }
  const auto expiry_steady = Clock::now() + (expiry - WallClock::now());
  fleet.run_until([] { return false; }, expiry_steady - 500ms);
  const LatenessHistogram histogram_before = scrape_expiry_lateness(setup.metrics_port());
  const SchedTimes loop_before = sched_times(setup.bastion().pid());
  const double daemon_cpu_before = cpu_seconds(setup.bastion().pid());
  const auto deadline = expiry_steady + 30s;
  const bool all_closed =
      fleet.run_until([&] { return fleet.closed() == fleet.clients().size(); }, deadline);
  const SchedTimes loop_after = sched_times(setup.bastion().pid());
  figures.daemon_cpu_ms = 1000.0 * (cpu_seconds(setup.bastion().pid()) - daemon_cpu_before);
  figures.loop = {loop_after.running_ms - loop_before.running_ms,
                  loop_after.waiting_ms - loop_before.waiting_ms, loop_after.loops};
  // The daemon observes each session's lateness when it closes it; the last may still be
  // closing when its client saw EOF.
  LatenessHistogram histogram_after;
  wait_until(
      [&] {
        histogram_after = scrape_expiry_lateness(setup.metrics_port());
        return histogram_after.count - histogram_before.count >= static_cast<double>(count);
      },
      10s);
  figures.logged_lateness_s = logged_terminations(setup.bastion().log(), expiry);
  figures.daemon_count = histogram_after.count - histogram_before.count;
  figures.daemon_sum_s = histogram_after.sum - histogram_before.sum;
  for (std::size_t i = 0; i < histogram_after.buckets.size(); ++i) {
    const double before =
        i < histogram_before.buckets.size() ? histogram_before.buckets[i].second : 0;
    figures.daemon_buckets.emplace_back(histogram_after.buckets[i].first,
                                        histogram_after.buckets[i].second - before);
  }
  if (!all_closed && figures.failure.empty()) {
    figures.failure = std::to_string(fleet.clients().size() - fleet.closed()) +
                      " sessions were still open 30 s after their grants ended";
  }
  for (std::size_t i = 0; i < fleet.clients().size(); ++i) {
    const TypingClient& client = *fleet.clients()[i];
    if (!client.closed()) continue;
    figures.lateness_s.push_back(
        std::chrono::duration<double>(client.closed_at() - expiry).count());
    if (client.output().find("expired at") != std::string::npos) {
      ++figures.closed_with_notice;
    } else if (figures.failure.empty()) {
      figures.failure = "client " + std::to_string(i) + " closed without the expiry notice: " +
                        client.output().substr(client.output().size() -
                                               std::min<std::size_t>(client.output().size(), 300));
    }
  }
  wait_until(
      [&] {
        figures.ended_as_expired = std::stoul(PostgresCluster::shared().query(
            database,
            "SELECT count(*) FROM sessions WHERE end_reason = 'grant_expired' AND "
            "grant_id IN (" +
                join_ids(grants) + ")"));
        return figures.ended_as_expired == figures.sessions;
      },
      10s);
  return figures;
}

// ---------------------------------------------------------------------------------------------
// Report

std::string mib(double kib) { return fixed(kib / 1024.0, 1); }

std::string ratio(double ours, double theirs) {
  return theirs > 0 ? fixed(ours / theirs, 2) + "x" : "-";
}

// The row of `route` if it was measured, else nullptr; the first row always is (the recorded
// route).
const ConcurrencyFigures* measured_route(const std::vector<ConcurrencyFigures>& rows,
                                         std::string_view route) {
  for (const ConcurrencyFigures& row : rows) {
    if (row.route == route) return row.measured || &row == &rows.front() ? &row : nullptr;
  }
  return nullptr;
}

std::string render_concurrency(const std::vector<ConcurrencyFigures>& rows, const Options& options,
                               const rlimit& files) {
  std::ostringstream out;
  out << "### Concurrency: " << options.sessions
      << " interactive sessions, each typing a line a second\n\n"
      << "| route | alive at the end | lines echoed | ramp (s) | RSS idle -> loaded (MiB) | "
         "RSS per session (KiB) | PSS per session (KiB) | CPU over "
      << options.window_s
      << " s (% of a core) | echo p50 / p99 (ms) |\n|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& row : rows) {
    out << "| " << row.route << " | " << row.alive << "/" << row.sessions << " | " << row.echoed
        << "/" << row.typed << " | " << fixed(row.ramp_s, 1) << " | ";
    if (!row.measured) {
      out << "not measured: not every session came up | - | - | - | - |\n";
      continue;
    }
    out << mib(row.idle.rss_kib) << " -> " << mib(row.loaded.rss_kib) << " | "
        << fixed(row.rss_per_session_kib(), 0) << " | " << fixed(row.pss_per_session_kib(), 0)
        << " | " << fixed(row.cpu_percent, 1) << " | " << fixed(row.echo_p50_ms, 1) << " / "
        << fixed(row.echo_p99_ms, 1) << " |\n";
  }
  const ConcurrencyFigures& recorded = *measured_route(rows, kRecordedRoute);
  const ConcurrencyFigures* synced_together = measured_route(rows, kSyncedTogetherRoute);
  const ConcurrencyFigures* shipped_at_the_end = measured_route(rows, kShippedAtTheEndRoute);
  const ConcurrencyFigures* jump = measured_route(rows, kJumpHostRoute);
  out << "\n";
  if (recorded.measured && synced_together) {
    out << "One syncfs for every session's writes instead of an fdatasync of each spool file: "
           "CPU "
        << ratio(synced_together->cpu_percent, recorded.cpu_percent) << " of the per-file figure. ";
  }
  if (recorded.measured && shipped_at_the_end) {
    out << "Live shipping (chunks stored while sessions run) costs "
        << fixed(recorded.cpu_percent - shipped_at_the_end->cpu_percent, 1)
        << " % of a core in portcullisd ("
        << ratio(recorded.cpu_percent, shipped_at_the_end->cpu_percent)
        << " of the figure with live_shipping = false). ";
  }
  if (recorded.measured && jump) {
    out << "Portcullis / OpenSSH jump host: PSS per session "
        << ratio(recorded.pss_per_session_kib(), jump->pss_per_session_kib()) << ", CPU "
        << ratio(recorded.cpu_percent, jump->cpu_percent) << " (lower is better). ";
  }
  if (recorded.measured) {
    out << "Target RSS per session < 1 MiB: "
        << (recorded.rss_per_session_kib() < 1024 ? "met" : "MISSED") << " ("
        << fixed(recorded.rss_per_session_kib(), 0) << " KiB).\n"
        << "portcullisd with every session up: peak RSS (VmHWM) " << mib(recorded.peak_rss_kib)
        << " MiB, " << recorded.fds << " open files ("
        << fixed(static_cast<double>(recorded.fds) / recorded.sessions, 1) << " per session). ";
  }
  out << "Open files limit of this benchmark and what it starts: " << files.rlim_cur
      << ". The jump host figures sum its per-connection sshd processes (RSS counts shared "
         "pages once in each; PSS splits them).\n\n";
  return out.str();
}

std::string render_expiry(const ExpiryFigures& figures) {
  std::ostringstream out;
  const double p99 = percentile(figures.lateness_s, 0.99);
  const auto daemon_quantile = [&](double p) {
    return bucket_quantile(figures.daemon_buckets, figures.daemon_count, p);
  };
  out << "### Mass expiry: " << figures.sessions << " sessions whose grants end at the same "
      << "second\n\n"
      << "| sessions up | closed with the expiry notice | recorded as grant_expired | lateness "
         "p50 (s) | p99 (s) | max (s) | target p99 <= 1 s |\n|---|---|---|---|---|---|---|\n"
      << "| " << figures.connected << "/" << figures.sessions << " | " << figures.closed_with_notice
      << " | " << figures.ended_as_expired << " | " << fixed(percentile(figures.lateness_s, 0.5), 3)
      << " | " << fixed(p99, 3) << " | " << fixed(percentile(figures.lateness_s, 1.0), 3) << " | "
      << (figures.lateness_s.empty() ? "-"
          : p99 <= 1.0               ? "met"
                                     : "MISSED")
      << " |\n\n"
      << "Lateness: when the client saw its connection close, after the second the grants "
         "ended. The grants were set to end "
      << figures.lead_s
      << " s ahead, then every session connected and typed a line a second until the end. "
         "portcullisd's event loops ("
      << figures.loop.loops
      << " thread(s), [server] threads) from 0.5 s before the expiry until the last "
         "client had gone: "
      << fixed(figures.loop.running_ms, 0) << " ms on a CPU, " << fixed(figures.loop.waiting_ms, 0)
      << " ms runnable but waiting for one; every thread of portcullisd: "
      << fixed(figures.daemon_cpu_ms, 0) << " ms on a CPU (" << figures.placement << ").\n\n"
      << "The daemon's own lateness (`portcullis_session_end_lateness_seconds{cause=\"expiry\"}` "
         "from its /metrics before and after: from the grant's end by the database's clock to "
         "the moment it closed the session): "
      << fixed(figures.daemon_count, 0) << " sessions, mean "
      << (figures.daemon_count > 0 ? fixed(figures.daemon_sum_s / figures.daemon_count, 3) : "-")
      << " s, p50 " << daemon_quantile(0.5) << ", p99 " << daemon_quantile(0.99)
      << " (histogram buckets). By its log (the time it logged each termination, this machine's "
         "clock): "
      << figures.logged_lateness_s.size() << " sessions, p50 "
      << fixed(percentile(figures.logged_lateness_s, 0.5), 3) << " s, p99 "
      << fixed(percentile(figures.logged_lateness_s, 0.99), 3) << " s, max "
      << fixed(percentile(figures.logged_lateness_s, 1.0), 3) << " s.\n";
  return out.str();
}

// Each session holds a few descriptors in every process along its way: take all there is.
rlimit raise_open_files_limit() {
  rlimit files{};
  ::getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &files);
  return files;
}

}  // namespace
}  // namespace portcullis::bench

int main(int argc, char** argv) {
  using namespace portcullis::bench;
  try {
    const Options options = parse_options(argc, argv);
    const rlimit files = raise_open_files_limit();
    const Placement placement = choose_placement(options);
    // Before anything starts: every process and thread started from here inherits it.
    if (placement.placed()) pin_to_cpus(placement.others);
    Setup setup(placement);
    std::vector<ConcurrencyFigures> rows;
    if (options.sessions > 0) rows = measure_all_routes(setup, options);
    // The ramp above tells how long the expiring sessions will take to come up.
    const double connect_s = rows.empty() ? 0.1 : rows.front().ramp_s / options.sessions;
    std::optional<ExpiryFigures> expiry;
    const std::string placement_text =
        placement.placed()
            ? "portcullisd on CPU " + cpu_list_text(placement.daemon) +
                  " alone; the clients, the target's sshd, PostgreSQL and the benchmark on CPU " +
                  cpu_list_text(placement.others)
            : "no CPU placement: everything shares every CPU";
    if (options.expiry_sessions > 0) {
      expiry = measure_mass_expiry(setup, options, connect_s);
      expiry->placement = placement_text;
    }

    std::string report = "CPU placement: " + placement_text + ".\n\n";
    if (!rows.empty()) report += render_concurrency(rows, options, files);
    if (expiry) report += render_expiry(*expiry);
    publish(report, options.markdown);

    bool ok = true;
    for (const auto& row : rows) {
      if (!row.ok()) std::cerr << "scale_bench: " << row.route << ": " << row.failure << "\n";
      ok = ok && row.ok();
    }
    if (expiry && !expiry->ok()) {
      std::cerr << "scale_bench: mass expiry: " << expiry->failure << "\n";
      ok = false;
    }
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "scale_bench: " << e.what() << "\n";
    return 1;
  }
}
