// The attack mix of issue 14 (tests/support/attack_mix.h) against portcullisd and against OpenSSH's
// sshd used as a jump host (ssh -W through it, what ssh -J does), one after the other on this
// machine: connections trickling their SSH identification line a byte a second (slowloris),
// ssh clients offering public keys nobody registered, and logins hanging on a target that
// accepts TCP and never answers. While it runs, a legitimate user logs in once a second (time to
// the command's output) and, on Portcullis, has a grant revoked under a live session (time from
// the revoke command's return to the session's end); the daemon's RSS and CPU over that window
// are measured (for sshd: of all its processes, those gone by then included for CPU).
// Usage: attack_bench [--slowloris N] [--key-attempts N] [--stuck N] [--logins N] [--revokes N]
//                     [--guessing-seconds S] [--markdown FILE]
// Exits non-zero when a legitimate login or a revoke fails on Portcullis or portcullisd dies;
// what OpenSSH does under the attack, and a missed target, are only reported.
#include <algorithm>
#include <atomic>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/options.h"
#include "bench/routes.h"
#include "tests/support/attack_mix.h"
#include "tests/support/harness.h"

namespace portcullis::bench {
namespace {

using namespace e2e;
using Clock = std::chrono::steady_clock;

constexpr const char* kUserAddress = "127.0.9.9";  // the legitimate user; attackers: 127.0.1-3.x
constexpr int kStuckPerUser = 5;                   // under max_sessions_per_user (10)
const std::vector<std::string> kSsh{"ssh"};

struct Options {
  int slowloris = 500;
  int key_attempts = 1000;
  int stuck = 50;
  int logins = 20;
  int revokes = 5;
  int guessing_s = 20;
  std::string markdown;
};

Options parse_options(int argc, char** argv) {
  Options options;
  FlagParser()
      .number("--slowloris", options.slowloris)
      .number("--key-attempts", options.key_attempts)
      .number("--stuck", options.stuck)
      .number("--logins", options.logins)
      .number("--revokes", options.revokes)
      .number("--guessing-seconds", options.guessing_s)
      .text("--markdown", options.markdown)
      .parse(argc, argv);
  return options;
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string join(const std::vector<std::string>& words) {
  std::string text;
  for (const auto& w : words) text += (text.empty() ? "" : " ") + w;
  return text;
}

// ---------------------------------------------------------------------------------------------
// The two servers under attack

// What the benchmark needs to know of one server: where to attack it and how to log in through it.
struct Defender {
  std::string name;
  std::uint16_t port = 0;
  std::string guessed_login;
  std::vector<std::vector<std::string>> stuck_logins;
  std::function<std::vector<std::string>(const std::string& word)> login;  // prints `word`
  std::function<std::vector<pid_t>()> processes;  // whose memory and CPU count
};

class Fixtures {
 public:
  explicit Fixtures(int stuck) {
    bastion_.add_target("db01", target_);
    bastion_.add_key_account("db01", target_);
    alice_ = bastion_.add_user("alice");
    bastion_.add_grant("alice", "db01", target_.account(), "2h");
    // Whose grants are revoked: a user of their own, so no other grant keeps the session up.
    carol_ = bastion_.add_user("carol");
    bastion_.cli_checked({"target", "add", "void01", "--host", "127.0.0.1", "--port",
                          std::to_string(dead_.port()), "--host-key",
                          target_.host_key().public_key().string()});
    bastion_.cli_checked({"account", "add", "void01", target_.account(), "--key-file",
                          target_.account_key().private_key.string()});
    for (int u = 0; u * kStuckPerUser < stuck; ++u) {
      stuck_keys_.push_back(bastion_.add_user("stuck" + std::to_string(u)));
      bastion_.add_grant("stuck" + std::to_string(u), "void01", target_.account(), "2h");
    }
    bastion_.start();
  }

  Bastion& bastion() { return bastion_; }
  const KeyPair& carol() const { return carol_; }
  const TargetSshd& target() const { return target_; }

  Defender portcullis(int stuck) {
    Defender d;
    d.name = "Portcullis";
    d.port = bastion_.port();
    d.guessed_login = "alice+db01";
    for (int i = 0; i < stuck; ++i) {
      const int user = i / kStuckPerUser;
      d.stuck_logins.push_back(
          concat(concat(kSsh, ssh_client_options(stuck_keys_[user].private_key, bastion_.port())),
                 {"-b", "127.0.3." + std::to_string(1 + i % 250),
                  "stuck" + std::to_string(user) + "+void01@127.0.0.1", "echo never"}));
    }
    d.login = [this](const std::string& word) {
      return concat(concat(kSsh, ssh_client_options(alice_.private_key, bastion_.port())),
                    {"-b", kUserAddress, "alice+db01@127.0.0.1", "echo " + word});
    };
    d.processes = [this] { return std::vector<pid_t>{bastion_.pid()}; };
    return d;
  }

  // The account's key on both hops, as an OpenSSH jump host is used; the jump host is stock
  // (MaxStartups 10:30:100, LoginGraceTime 2m, MaxAuthTries 6).
  Defender jump_host(int stuck) {
    Defender d;
    d.name = "OpenSSH jump host";
    d.port = jump_.port();
    d.guessed_login = jump_.account();
    auto through_jump = [this](const std::string& from, std::uint16_t port) {
      const auto hop = concat(
          ssh_client_options(jump_.account_key().private_key, jump_.port()),
          {"-b", from, "-W", "127.0.0.1:" + std::to_string(port), jump_.account() + "@127.0.0.1"});
      return concat(concat(kSsh, ssh_client_options(target_.account_key().private_key, port)),
                    {"-o", "ProxyCommand=ssh " + join(hop), target_.account() + "@127.0.0.1"});
    };
    for (int i = 0; i < stuck; ++i) {
      d.stuck_logins.push_back(concat(
          through_jump("127.0.3." + std::to_string(1 + i % 250), dead_.port()), {"echo never"}));
    }
    d.login = [this, through_jump](const std::string& word) {
      return concat(through_jump(kUserAddress, target_.port()), {"echo " + word});
    };
    d.processes = [this] {
      std::vector<pid_t> pids = descendants(jump_.pid());
      pids.insert(pids.begin(), jump_.pid());
      return pids;
    };
    return d;
  }

 private:
  TargetSshd target_;
  TargetSshd jump_;
  DeadTarget dead_;
  Bastion bastion_;
  KeyPair alice_;
  KeyPair carol_;
  std::vector<KeyPair> stuck_keys_;
};

// ---------------------------------------------------------------------------------------------
// One run of the attack against one server

struct Figures {
  std::string server;
  int logins_tried = 0;
  std::vector<double> login_s;  // of the logins that printed their word
  std::vector<std::string> login_failures;
  int revokes_tried = 0;
  std::vector<double> revoke_late_s;
  std::vector<std::string> revoke_failures;
  double idle_rss_kib = 0;
  double idle_pss_kib = 0;
  double peak_rss_kib = 0;  // the largest sample while the user logged in
  double peak_pss_kib = 0;
  std::size_t peak_processes = 0;
  double cpu_percent = 0;  // of one core, over the same window
  double window_s = 0;
  AttackCounts attack;
  bool daemon_survived = true;

  bool ok() const { return login_failures.empty() && revoke_failures.empty() && daemon_survived; }
};

// Samples the memory of a server's processes every 200 ms and keeps the largest.
class MemorySampler {
 public:
  MemorySampler(const Defender& defender, Figures& figures)
      : thread_([this, &defender, &figures] {
          while (!stopping_) {
            const auto pids = defender.processes();
            const Footprint now = footprint(pids);
            figures.peak_rss_kib = std::max(figures.peak_rss_kib, now.rss_kib);
            figures.peak_pss_kib = std::max(figures.peak_pss_kib, now.pss_kib);
            figures.peak_processes = std::max(figures.peak_processes, pids.size());
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
          }
        }) {}
  ~MemorySampler() {
    stopping_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// CPU of a server's processes so far, those they reaped included: sshd's per-connection
// processes come and go within the window.
double cpu_of(const Defender& defender) {
  double total = 0;
  for (pid_t pid : defender.processes()) {
    total += cpu_seconds(pid) + reaped_children_cpu_seconds(pid);
  }
  return total;
}

// A login once a second, each timed to its command's output.
void time_logins(const Defender& defender, const Options& options, Figures& figures) {
  for (int i = 0; i < options.logins; ++i) {
    const auto started = Clock::now();
    const std::string word = "login-" + std::to_string(i);
    const RunResult login = run(defender.login(word), RunOptions().with_timeout(30s));
    ++figures.logins_tried;
    if (login.out == word + "\n") {
      figures.login_s.push_back(seconds(login.elapsed));
    } else {
      figures.login_failures.push_back(
          "status " + std::to_string(login.exit_status) + ": " +
          (login.err.empty() ? std::string("no output") : login.err.substr(0, 200)));
    }
    std::this_thread::sleep_until(started + 1s);
  }
}

// A grant, a shell under it, then `grant revoke`: from the command's return to the session's end.
void time_revokes(Fixtures& fixtures, const Options& options, Figures& figures) {
  Bastion& bastion = fixtures.bastion();
  for (int i = 0; i < options.revokes; ++i) {
    ++figures.revokes_tried;
    const std::string grant = bastion.add_grant("carol", "db01", fixtures.target().account(), "1h");
    auto shell = concat(
        concat({"ssh", "-tt"}, ssh_client_options(fixtures.carol().private_key, bastion.port())),
        {"-b", kUserAddress, "carol+db01@127.0.0.1", "echo ready-$((6*7)); exec sleep 600"});
    PtySession session(shell);
    if (!session.expect("ready-42", 30s)) {
      figures.revoke_failures.push_back("no shell: " + session.transcript().substr(0, 200));
      continue;
    }
    const RunResult revoke = bastion.cli({"grant", "revoke", grant, "--reason", "attack drill"});
    const auto revoked = Clock::now();
    if (revoke.exit_status != 0) {
      figures.revoke_failures.push_back("revoke failed: " + revoke.err);
      continue;
    }
    if (!session.wait_exit(10s)) {
      figures.revoke_failures.push_back("the session outlived its revoked grant by 10 s");
      continue;
    }
    figures.revoke_late_s.push_back(seconds(Clock::now() - revoked));
  }
}

Figures measure(const Defender& defender, Fixtures& fixtures, const Options& options,
                bool revocable) {
  Figures figures;
  figures.server = defender.name;
  const Footprint idle = footprint(defender.processes());
  figures.idle_rss_kib = idle.rss_kib;
  figures.idle_pss_kib = idle.pss_kib;

  AttackPlan plan;
  plan.port = defender.port;
  plan.slowloris = options.slowloris;
  plan.key_attempts = options.key_attempts;
  plan.guessing_time = std::chrono::seconds(options.guessing_s);
  plan.guessed_login = defender.guessed_login;
  plan.stuck_logins = defender.stuck_logins;
  plan.dir = fixtures.bastion().dir();
  std::cerr << "attack_bench: attacking " << defender.name << "\n";
  AttackMix attack(plan);
  // In full swing: every slowloris connection tried once, every stuck login started and given
  // the time to reach the dead target.
  wait_until(
      [&] {
        const AttackCounts counts = attack.counts();
        return counts.slowloris_opened >= static_cast<std::uint64_t>(options.slowloris) &&
               counts.stuck_started >= static_cast<std::uint64_t>(options.stuck);
      },
      30s);
  std::this_thread::sleep_for(3s);

  const double cpu_before = cpu_of(defender);
  const auto window_start = Clock::now();
  {
    MemorySampler sampler(defender, figures);
    time_logins(defender, options, figures);
    if (revocable) time_revokes(fixtures, options, figures);
  }
  figures.window_s = seconds(Clock::now() - window_start);
  figures.cpu_percent = 100.0 * (cpu_of(defender) - cpu_before) / figures.window_s;
  attack.stop();
  figures.attack = attack.counts();
  if (revocable) figures.daemon_survived = fixtures.bastion().running();
  return figures;
}

// ---------------------------------------------------------------------------------------------
// Report

// Seconds, shown in milliseconds.
std::string p50_max_ms(const std::vector<double>& values) {
  if (values.empty()) return "-";
  return fixed(1000 * percentile(values, 0.5), 0) + " / " +
         fixed(1000 * percentile(values, 1.0), 0);
}

std::string render(const Figures& ours, const Figures& openssh, const Options& options) {
  std::ostringstream out;
  const auto mib = [](double kib) { return fixed(kib / 1024, 1); };
  const auto got = [](const Figures& f) {
    return std::to_string(f.login_s.size()) + "/" + std::to_string(f.logins_tried);
  };
  const auto attack = [](const Figures& f, auto field) { return std::to_string(field(f.attack)); };
  out << "While " << options.slowloris
      << " connections trickle their SSH identification line one byte a second (reopened at "
         "their next tick when the server closes them), "
      << options.key_attempts << " public keys nobody registered are offered ("
      << AttackPlan().keys_per_connection << " a connection, spread over " << options.guessing_s
      << " s) and " << options.stuck
      << " logins hang on a target that accepts TCP and never answers (each started again when "
         "it gives up), a legitimate user logs in "
      << options.logins << " times, one a second, from an address of their own"
      << (options.revokes > 0 ? ", then, on Portcullis, opens a shell under a fresh grant and has "
                                "the grant revoked (" +
                                    std::to_string(options.revokes) + " rounds)"
                              : "")
      << ". Both servers run with their default limits.\n\n";
  out << "| under attack | Portcullis | OpenSSH jump host |\n|---|---|---|\n";
  out << "| legitimate logins that got through | " << got(ours) << " | " << got(openssh) << " |\n";
  out << "| login time p50 / max (ms) | " << p50_max_ms(ours.login_s) << " | "
      << p50_max_ms(openssh.login_s) << " |\n";
  out << "| revoke to session end p50 / max (ms) | " << p50_max_ms(ours.revoke_late_s) << " ("
      << ours.revoke_late_s.size() << "/" << ours.revokes_tried
      << ") | none: no grant to revoke |\n";
  out << "| RSS idle -> peak (MiB) | " << mib(ours.idle_rss_kib) << " -> " << mib(ours.peak_rss_kib)
      << " | " << mib(openssh.idle_rss_kib) << " -> " << mib(openssh.peak_rss_kib) << " in up to "
      << openssh.peak_processes << " processes |\n";
  out << "| PSS idle -> peak (MiB) | " << mib(ours.idle_pss_kib) << " -> " << mib(ours.peak_pss_kib)
      << " | " << mib(openssh.idle_pss_kib) << " -> " << mib(openssh.peak_pss_kib) << " |\n";
  out << "| CPU (% of a core) | " << fixed(ours.cpu_percent, 1) << " | "
      << fixed(openssh.cpu_percent, 1) << " |\n";
  out << "| slowloris connections opened / closed by the server | "
      << attack(ours, [](const AttackCounts& c) { return c.slowloris_opened; }) << " / "
      << attack(ours, [](const AttackCounts& c) { return c.slowloris_closed; }) << " | "
      << attack(openssh, [](const AttackCounts& c) { return c.slowloris_opened; }) << " / "
      << attack(openssh, [](const AttackCounts& c) { return c.slowloris_closed; }) << " |\n";
  out << "| keys refused (guessing connections that reached authentication / made) | "
      << ours.attack.key_attempts << " (" << ours.attack.refused_connections << "/"
      << ours.attack.guess_connections << ") | " << openssh.attack.key_attempts << " ("
      << openssh.attack.refused_connections << "/" << openssh.attack.guess_connections << ") |\n";
  out << "| logins to the dead target started / ended | " << ours.attack.stuck_started << " / "
      << ours.attack.stuck_ended << " | " << openssh.attack.stuck_started << " / "
      << openssh.attack.stuck_ended << " |\n\n";
  out << "Memory and CPU over the " << fixed(ours.window_s, 0) << " s (Portcullis) and "
      << fixed(openssh.window_s, 0)
      << " s (OpenSSH) while the user logged in, the attack running throughout; for the jump "
         "host, of the listening sshd and every process under it, and CPU includes those that "
         "exited in the window.\n";
  const bool met = ours.login_s.size() == static_cast<std::size_t>(ours.logins_tried) &&
                   !ours.login_s.empty() && percentile(ours.login_s, 1.0) <= 2.0 &&
                   ours.revoke_late_s.size() == static_cast<std::size_t>(ours.revokes_tried) &&
                   (ours.revoke_late_s.empty() || percentile(ours.revoke_late_s, 1.0) <= 1.0);
  out << "Target: every legitimate login within 2 s and every revoke within 1 s under attack: "
      << (met ? "met" : "MISSED") << ".\n";
  out << "OpenSSH has no grant to revoke: taking access away means removing the key from "
         "authorized_keys (or the account), which ends no session already open; ending one "
         "means finding its sshd process and killing it by hand.\n";
  for (const Figures* f : {&ours, &openssh}) {
    if (f->login_failures.empty()) continue;
    std::string failure;  // one line: ssh's messages end in "\r\n"
    for (char c : f->login_failures.front()) {
      if (c != '\r' && c != '\n') {
        failure += c;
      } else if (!failure.empty() && failure.back() != ' ') {
        failure += ' ';
      }
    }
    while (!failure.empty() && failure.back() == ' ') failure.pop_back();
    out << f->server << ", first refused login: `" << failure << "`\n";
  }
  return out.str();
}

}  // namespace
}  // namespace portcullis::bench

int main(int argc, char** argv) {
  using namespace portcullis::bench;
  try {
    const Options options = parse_options(argc, argv);
    Fixtures fixtures(options.stuck);
    const Figures ours =
        measure(fixtures.portcullis(options.stuck), fixtures, options, /*revocable=*/true);
    const Figures openssh =
        measure(fixtures.jump_host(options.stuck), fixtures, options, /*revocable=*/false);
    publish(render(ours, openssh, options), options.markdown);
    for (const auto& failure : ours.login_failures) {
      std::cerr << "attack_bench: Portcullis login failed: " << failure << "\n";
    }
    for (const auto& failure : ours.revoke_failures) {
      std::cerr << "attack_bench: Portcullis revoke: " << failure << "\n";
    }
    if (!ours.daemon_survived) std::cerr << "attack_bench: portcullisd died under the attack\n";
    if (!ours.attack.failure.empty()) std::cerr << "attack_bench: " << ours.attack.failure << "\n";
    return ours.ok() && ours.attack.failure.empty() && openssh.attack.failure.empty() ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "attack_bench: " << e.what() << "\n";
    return 1;
  }
}
