// The wire-level abuse test (issue 12, item 7). A scripted hostile SSH client,
// tests/e2e/wire_abuse.py (Debian's paramiko), logs in with a valid key and grant and sends every
// message a client can send with hostile contents, while a real `ssh ... cat` streams data
// through the same portcullisd. The daemon must stay up (same pid, still admitting new logins),
// keep the neighbour's stream byte-exact and flowing, keep its memory bounded, and audit each
// refusal once per connection, never once per packet.
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "tests/support/harness.h"

namespace portcullis::e2e {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// Peer input of any size must not grow the daemon by more than this (the issue asks for
// "bounded"; the largest flood sends 32 MiB beyond the window, which libssh buffers whole).
constexpr long kRssAllowanceKib = 100 * 1024;
// The RSS bound holds in the normal build only: under AddressSanitizer freed memory stays in its
// quarantine (256 MiB by default) and every allocation carries shadow memory, so RSS says
// nothing about what the daemon holds there.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kUnderAddressSanitizer = true;
#else
constexpr bool kUnderAddressSanitizer = false;
#endif
// The neighbour's stream may pause while the machine is busy, never for this long.
constexpr auto kLongestAllowedStall = 10s;
constexpr auto kScriptTimeout = 240s;

// Resident memory of process `pid` in KiB (VmRSS), 0 when it is gone.
long rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  }
  return 0;
}

// Requests through the control login reach the policy: a ticket pattern, and automatic
// approval so that a hostile reason gets as far as a grant and its audit row.
constexpr std::string_view kPolicy = R"([[policy]]
name = "db-auto"
targets = ["db*"]
roles = ["dev"]
max_duration = "1h"
require_ticket = true
ticket_pattern = "^(CHG|INC)-[0-9]+$"
approval = "auto"
)";

// alice (role dev) with an active grant on db01, and portcullisd started.
struct Fixture {
  Fixture() {
    bastion.append_config(kPolicy);
    // The attacks come one after another from one address, some failing to log in on purpose:
    // the limits that would slow or drop them are tested on their own (limits_test.cpp).
    // paramiko 2.12 (Debian bookworm) knows neither ChaCha20-Poly1305 nor AES-GCM.
    bastion.add_server_config(
        "auth_back_off = false\nper_source_max_startups = 1000\nmax_startups = \"1000\"\n"
        "ciphers = \"aes128-gcm@openssh.com,aes128-ctr\"\nmacs = \"hmac-sha2-256\"");
    user_key = bastion.add_user(user, {"dev"});
    bastion.add_target("db01", target);
    bastion.add_key_account("db01", target);
    bastion.add_grant(user, "db01", target.account());
    bastion.start();
  }
  std::string target_login() const { return user + ":db01"; }

  TargetSshd target;
  Bastion bastion;
  KeyPair user_key;
  std::string user = "alice";
};

// A real `ssh -T LOGIN cat` through the bastion, fed pseudo-random bytes at a steady pace;
// everything it echoes must be exactly what was sent, in order.
class EchoStream {
 public:
  explicit EchoStream(const Fixture& gw) : ssh_(command(gw, log_.path() / "ssh.log")) {}

  // Sends the next chunk when it is due and little is in flight, reads what came back; waits
  // at most `wait`.
  void pump(std::chrono::milliseconds wait) {
    if (ssh_.input() >= 0 && sent_.size() - received_ < kMaxInFlight &&
        Clock::now() >= next_send_) {
      send_chunk();
      next_send_ = Clock::now() + kChunkInterval;
    }
    pollfd fd{ssh_.output(), POLLIN, 0};
    if (fd.fd < 0 || ::poll(&fd, 1, static_cast<int>(wait.count())) <= 0) return note_stall();
    receive();
  }

  // Closes stdin and reads the rest; the exit status of ssh (nullopt if it did not end).
  std::optional<int> finish(std::chrono::milliseconds timeout) {
    ssh_.close_input();
    const auto deadline = Clock::now() + timeout;
    while (ssh_.output() >= 0 && Clock::now() < deadline) pump(100ms);
    std::optional<int> status;
    wait_until([&] { return (status = ssh_.exit_status()).has_value(); }, 10s);
    return status;
  }

  std::size_t sent() const { return sent_.size(); }
  std::size_t received() const { return received_; }
  // The first offset where the echo differed from what was sent, if any.
  std::optional<std::size_t> first_difference() const { return first_difference_; }
  Clock::duration longest_stall() const { return longest_stall_; }

 private:
  // About 1.6 MB/s: a steady stream that leaves the machine's two cores to the attacks.
  static constexpr std::size_t kChunk = 16 * 1024;
  static constexpr auto kChunkInterval = 10ms;
  static constexpr std::size_t kMaxInFlight = 256 * 1024;

  // ssh's own messages go to `log` (-E): PipedProcess merges stderr into the echoed stdout.
  static std::vector<std::string> command(const Fixture& gw, const fs::path& log) {
    std::vector<std::string> argv{"ssh"};
    const auto options = ssh_client_options(gw.user_key.private_key, gw.bastion.port());
    argv.insert(argv.end(), options.begin(), options.end());
    argv.insert(argv.end(), {"-E", log.string(), "-T", gw.target_login() + "@127.0.0.1", "cat"});
    return argv;
  }

  void send_chunk() {
    std::string chunk(kChunk, '\0');
    std::generate(chunk.begin(), chunk.end(), [this] { return static_cast<char>(random_()); });
    const ssize_t n = ::write(ssh_.input(), chunk.data(), chunk.size());
    if (n > 0) sent_.append(chunk, 0, static_cast<std::size_t>(n));
  }

  void receive() {
    char buffer[65536];
    const ssize_t n = ::read(ssh_.output(), buffer, sizeof buffer);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return ssh_.close_output();
    if (n < 0) return;
    const std::string_view got(buffer, static_cast<std::size_t>(n));
    if (!first_difference_ && sent_.compare(received_, got.size(), got) != 0) {
      first_difference_ = received_;
    }
    received_ += got.size();
    last_progress_ = Clock::now();
  }

  void note_stall() {
    if (received_ == sent_.size()) last_progress_ = Clock::now();  // nothing was owed
    longest_stall_ = std::max(longest_stall_, Clock::now() - last_progress_);
  }

  TempDir log_{"portcullis-echo"};
  PipedProcess ssh_;
  std::mt19937 random_{12};
  std::string sent_;
  std::size_t received_ = 0;
  std::optional<std::size_t> first_difference_;
  Clock::time_point next_send_ = Clock::now();
  Clock::time_point last_progress_ = Clock::now();
  Clock::duration longest_stall_{};
};

fs::path attack_script() { return source_dir() / "tests" / "e2e" / "wire_abuse.py"; }

// PORTCULLIS_ABUSE_ONLY=name,name runs just those attacks (to study one at a time).
std::string chosen_attacks() {
  const char* only = std::getenv("PORTCULLIS_ABUSE_ONLY");
  return only ? only : "";
}

std::vector<std::string> script_command(const Fixture& gw, const std::vector<std::string>& extra) {
  std::vector<std::string> argv{"/usr/bin/python3",
                                attack_script().string(),
                                "--port",
                                std::to_string(gw.bastion.port()),
                                "--key",
                                gw.user_key.private_key.string(),
                                "--target-login",
                                gw.target_login(),
                                "--control-login",
                                gw.user,
                                "--only",
                                chosen_attacks()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

std::vector<json> json_lines(const std::string& text) {
  std::vector<json> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(json::parse(line));
  }
  return lines;
}

std::string tail(const std::string& text, std::size_t bytes = 6000) {
  return text.size() <= bytes ? text : "..." + text.substr(text.size() - bytes);
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Audit rows after `after_id`.
std::vector<json> audit_rows_after(const Bastion& bastion, long after_id) {
  std::vector<json> rows;
  for (const json& row :
       json::parse(bastion.cli_checked({"audit", "list", "--json", "--limit", "1000000"}))) {
    if (row.at("id").get<long>() > after_id) rows.push_back(row);
  }
  return rows;
}

long last_audit_id(const Bastion& bastion) {
  long last = 0;
  for (const json& row : audit_rows_after(bastion, 0)) {
    last = std::max(last, row.at("id").get<long>());
  }
  return last;
}

// The connection an audit row is about: its client address (unique per TCP connection),
// else its object.
std::string connection_of(const json& row) {
  const json& details = row.at("details");
  if (details.is_object() && details.contains("client") && details["client"].is_string()) {
    return details["client"].get<std::string>();
  }
  return row.at("object").dump();
}

// What each attack sent and what came back, one line each, for the log.
void print_attacks(const std::vector<json>& attacks) {
  for (const json& a : attacks) std::cout << "  " << a.dump().substr(0, 600) << "\n";
}

// A new target login and a new control login both work.
void expect_new_logins_work(const Fixture& gw) {
  const RunResult target =
      run_ssh(gw.user_key.private_key, gw.bastion.port(), gw.target_login(), {"echo after"});
  EXPECT_EQ(target.out, "after\n") << target.err << tail(gw.bastion.log());
  const RunResult control = run_ssh(gw.user_key.private_key, gw.bastion.port(), gw.user, {"help"});
  EXPECT_EQ(control.exit_status, 0) << control.err << tail(gw.bastion.log());
}

// The connections (client addresses) on which the daemon refused a port forward.
std::vector<std::string> connections_refused_forwarding(const std::vector<json>& results) {
  std::vector<std::string> clients;
  for (const json& result : results) {
    if (result.value("forwarding_refused", 0) > 0 && result.contains("client")) {
      clients.push_back(result["client"]);
    }
  }
  return clients;
}

long rows_for(const std::vector<json>& rows, std::string_view action, const std::string& client) {
  return std::count_if(rows.begin(), rows.end(), [&](const json& row) {
    return row.at("action") == action && connection_of(row) == client;
  });
}

// Each refusal is audited once per connection, not once per packet; a refused port forward is
// audited exactly once. Audit rows are written by worker threads: waits for the forwarding
// rows to land before counting.
void expect_refusals_audited_once(const Bastion& bastion, long audit_start,
                                  const std::vector<json>& results) {
  const std::vector<std::string> forwarding = connections_refused_forwarding(results);
  std::vector<json> rows;
  wait_until(
      [&] {
        rows = audit_rows_after(bastion, audit_start);
        return std::all_of(forwarding.begin(), forwarding.end(), [&](const std::string& client) {
          return rows_for(rows, "forwarding.refused", client) > 0;
        });
      },
      10s);

  std::map<std::pair<std::string, std::string>, int> per_connection;
  std::map<std::string, int> per_action;
  for (const json& row : rows) {
    ++per_action[row.at("action")];
    // A session's start and end are one row each by construction; keyed by client address they
    // would collide when the kernel gives a later connection the same source port (seen under
    // ASan). Refusals name their connection ("conn:N"), which no later connection reuses.
    const std::string action = row.at("action");
    if (action == "session.start" || action == "session.end") continue;
    const std::string object = row.at("object");
    ++per_connection[{action, object.starts_with("conn:") ? object : connection_of(row)}];
  }
  std::cout << "audit rows during the attacks:";
  for (const auto& [action, count] : per_action) std::cout << " " << action << "=" << count;
  std::cout << "\n";

  for (const auto& [key, count] : per_connection) {
    EXPECT_LE(count, 1) << count << " audit rows " << key.first << " for connection " << key.second;
  }
  for (const std::string& client : forwarding) {
    EXPECT_EQ(rows_for(rows, "forwarding.refused", client), 1)
        << "forwarding.refused rows for the connection from " << client;
  }
}

// What happened while the attack script ran beside the neighbour's stream.
struct AttackRun {
  RunResult script;
  std::vector<json> results;
  long rss_start = 0;
  long rss_peak = 0;
};

// Runs the script to the end, pumping the neighbour's stream and sampling the daemon's RSS.
AttackRun run_attacks(const Fixture& gw, EchoStream& neighbour) {
  AttackRun outcome;
  const pid_t daemon = gw.bastion.pid();
  outcome.rss_start = outcome.rss_peak = rss_kib(daemon);
  auto script = std::async(std::launch::async, [&] {
    return run(script_command(gw, {}), RunOptions().with_timeout(kScriptTimeout));
  });
  while (script.wait_for(0s) != std::future_status::ready) {
    neighbour.pump(20ms);
    outcome.rss_peak = std::max(outcome.rss_peak, rss_kib(daemon));
  }
  outcome.script = script.get();
  outcome.results = json_lines(outcome.script.out);
  return outcome;
}

TEST(Abuse, HostileClientCannotHurtDaemonOrNeighbours) {
  const auto test_started = Clock::now();
  Fixture gw;
  const pid_t daemon = gw.bastion.pid();
  const RunResult listed = run(script_command(gw, {"--list"}));
  const auto attack_count =
      static_cast<std::size_t>(std::count(listed.out.begin(), listed.out.end(), '\n'));
  ASSERT_GT(attack_count, chosen_attacks().empty() ? 30u : 0u)
      << "cannot list the attacks of " << attack_script() << "\n"
      << listed.err;

  EchoStream neighbour(gw);
  ASSERT_TRUE(wait_until(
      [&] {
        neighbour.pump(20ms);
        return neighbour.received() > 0;
      },
      20s))
      << "the legitimate session never echoed\n"
      << tail(gw.bastion.log());
  const long audit_start = last_audit_id(gw.bastion);

  const AttackRun attacks = run_attacks(gw, neighbour);
  const std::optional<int> neighbour_status = neighbour.finish(30s);
  std::cout << "attacks (" << attacks.results.size() << " of " << attack_count << "):\n";
  print_attacks(attacks.results);
  std::cout << "daemon RSS: " << attacks.rss_start << " KiB at the start, peak " << attacks.rss_peak
            << " KiB, end " << rss_kib(daemon) << " KiB\n"
            << "neighbour: " << neighbour.sent() << " bytes sent, " << neighbour.received()
            << " echoed, longest stall " << seconds(neighbour.longest_stall()) << " s\n";

  // The daemon survived: same process, and it admits new logins of both kinds.
  const bool survived = gw.bastion.running();
  EXPECT_TRUE(survived) << "portcullisd died\n" << tail(gw.bastion.log(), 12000);
  EXPECT_EQ(gw.bastion.pid(), daemon);
  if (survived) expect_new_logins_work(gw);

  // The script ran every attack, and none made the daemon go silent on its connection.
  const RunResult& script = attacks.script;
  EXPECT_FALSE(script.timed_out) << "the attacks took longer than " << kScriptTimeout.count()
                                 << " s\n"
                                 << tail(script.err);
  EXPECT_EQ(script.exit_status, 0) << tail(script.err) << tail(script.out);
  EXPECT_EQ(attacks.results.size(), attack_count) << tail(script.out);
  for (const json& result : attacks.results) {
    EXPECT_FALSE(result.value("hung", true)) << "the daemon stopped answering: " << result.dump();
  }

  // The neighbour's stream went on while all that happened, byte for byte.
  EXPECT_EQ(neighbour_status, 0);
  EXPECT_EQ(neighbour.received(), neighbour.sent());
  EXPECT_FALSE(neighbour.first_difference())
      << "the echo differs from the input at byte " << *neighbour.first_difference();
  EXPECT_LT(neighbour.longest_stall(), kLongestAllowedStall)
      << "the neighbour's stream stalled for " << seconds(neighbour.longest_stall()) << " s";

  if (!kUnderAddressSanitizer) {
    EXPECT_LT(attacks.rss_peak - attacks.rss_start, kRssAllowanceKib)
        << "daemon RSS grew from " << attacks.rss_start << " KiB to " << attacks.rss_peak << " KiB";
  }

  expect_refusals_audited_once(gw.bastion, audit_start, attacks.results);
  std::cout << "the test took " << seconds(Clock::now() - test_started) << " s\n";
}

}  // namespace
}  // namespace portcullis::e2e
