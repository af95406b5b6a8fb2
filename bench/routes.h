// The ways the benchmarks reach one target account, side by side in one run:
//   direct  - ssh straight to the target sshd
//   jump    - OpenSSH as a jump host (ssh through a second sshd with -W, i.e. ssh -J)
//   bastion - ssh through portcullisd, which checks the grant and records the session
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/harness.h"

namespace portcullis::bench {

// How to reach the target one way: the ssh arguments before the command.
struct Route {
  std::string name;
  std::vector<std::string> ssh;
};

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b);

// Time on a CPU of every thread of `pid` so far, from schedstat in nanoseconds (utime and stime
// come in 10 ms ticks, too coarse for a thousand processes that each run a little); 0 once gone.
double cpu_seconds(pid_t pid);

// What a set of processes costs, from /proc.
std::optional<std::string> proc_text(pid_t pid, const char* name);
// "VmRSS:     1234 kB" -> 1234; 0 when the process or the field is gone.
double kib_field(pid_t pid, const char* file, const std::string& field);
// The fields of /proc/PID/stat after the command name, which may hold spaces: [0] is the
// state (field 3), [1] the parent (field 4).
std::vector<std::string> stat_fields(pid_t pid);
// Every process below `root` (its children, theirs, ...), not `root` itself.
std::vector<pid_t> descendants(pid_t root);
// CPU time of the children `pid` has reaped (cutime + cstime; in 10 ms ticks): what processes
// that came and went under a server cost, once they are gone.
double reaped_children_cpu_seconds(pid_t pid);

struct Footprint {
  double rss_kib = 0;
  double pss_kib = 0;  // shared pages split between the processes sharing them
  double cpu_s = 0;
};
Footprint footprint(const std::vector<pid_t>& pids);

// The value at fraction `p` (0.5, 0.99) of `values`, nearest rank; 0 when there are none.
double percentile(std::vector<double> values, double p);

// A number with `digits` decimals, for the report tables.
std::string fixed(double value, int digits);
// Prints a benchmark's report (markdown) and, when `markdown_file` is not empty, writes it there.
void publish(const std::string& report, const std::string& markdown_file);

// The fixtures behind the routes: a PostgreSQL database, the target sshd, portcullisd with a
// two-hour grant to the target, and a second sshd as the OpenSSH jump host.
class Routes {
 public:
  Routes();

  Route direct() const;
  Route jump() const;
  Route bastion() const;
  // The same user through another portcullisd node (on the same database) listening on `port`.
  Route bastion_node(std::string name, std::uint16_t port) const;

  const e2e::Gateway& gateway() const { return gateway_; }

  // Shipping a finished recording into PostgreSQL takes CPU; measuring the next transfer while
  // it runs would charge it to that transfer. Waits until the spool folder is empty.
  void wait_for_shipping() const;

 private:
  e2e::Gateway gateway_;
  e2e::TargetSshd jump_;
};

}  // namespace portcullis::bench
