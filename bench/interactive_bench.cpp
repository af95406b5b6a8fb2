// What an interactive user feels through Portcullis, against OpenSSH in the same run:
//   keystroke latency - the echo round trip of single bytes in an `ssh -tt` session, per route
//                       (bench/routes.h), the routes' samples interleaved so machine noise
//                       falls on all of them alike;
//   recording size    - compressed/raw size of the bastion's recordings of three typed shell
//                       sessions (a long listing; reading files; operating in top, vim and
//                       watch) and of a build log, read from the recordings table once
//                       shipped, beside the same events compressed as one frame (what the
//                       content allows at best).
// It exits non-zero when an echo does not come back or a recording is missing, never for a
// missed target (it reports those).
// Usage: interactive_bench [--samples N] [--key-gap-ms N] [--build-line-ms N] [--watch-ms N]
//                          [--markdown FILE]
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "bench/options.h"
#include "bench/routes.h"
#include "recorder/reader.h"
#include "tests/support/harness.h"

extern char** environ;

namespace portcullis::bench {
namespace {

using namespace e2e;
using Clock = std::chrono::steady_clock;

struct Options {
  int samples = 2000;
  int key_gap_ms = 100;    // between typed keys of the shell session: a fast typist
  int build_line_ms = 50;  // between lines of the build log: a parallel build with warm caches
  int watch_ms = 1000;     // one second of watching a full-screen program in the shell session
  std::string markdown;
};

Options parse_options(int argc, char** argv) {
  Options options;
  FlagParser()
      .number("--samples", options.samples)
      .number("--key-gap-ms", options.key_gap_ms)
      .number("--build-line-ms", options.build_line_ms)
      .number("--watch-ms", options.watch_ms)
      .text("--markdown", options.markdown)
      .parse(argc, argv);
  if (options.samples < 1) throw std::invalid_argument("--samples must be at least 1");
  return options;
}

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// A real ssh client under a pseudo-terminal. The terminal starts cooked, as a user's does, so
// ssh sends the usual modes (^C and all) to the remote pty; ssh then makes it raw itself, which
// is_raw() checks. Timing needs the reads here, not e2e::PtySession's regex matching.
class Terminal {
 public:
  explicit Terminal(const std::vector<std::string>& argv) {
    std::vector<std::string> strings = argv;
    std::vector<char*> args;
    for (auto& s : strings) args.push_back(s.data());
    args.push_back(nullptr);
    std::vector<std::string> env_strings{"TERM=xterm"};
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::string_view(*e).substr(0, 5) != "TERM=") env_strings.emplace_back(*e);
    }
    std::vector<char*> env;
    for (auto& s : env_strings) env.push_back(s.data());
    env.push_back(nullptr);
    winsize size{};
    size.ws_row = 24;
    size.ws_col = 80;
    pid_ = ::forkpty(&master_, nullptr, nullptr, &size);
    if (pid_ < 0) throw_errno("forkpty");
    if (pid_ == 0) {
      ::signal(SIGPIPE, SIG_DFL);
      ::execvpe(args[0], args.data(), env.data());
      ::_exit(127);
    }
    ::fcntl(master_, F_SETFD, FD_CLOEXEC);
    ::fcntl(master_, F_SETFL, ::fcntl(master_, F_GETFL) | O_NONBLOCK);
  }

  ~Terminal() {
    if (!status_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(master_);
  }

  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  void type(std::string_view keys) {
    while (!keys.empty()) {
      const ssize_t n = ::write(master_, keys.data(), keys.size());
      if (n < 0 && errno == EAGAIN) {
        pollfd fd{master_, POLLOUT, 0};
        ::poll(&fd, 1, 100);
        continue;
      }
      if (n < 0) throw_errno("write to the pty");
      keys.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // Reads until `text` shows up in the output after what earlier waits consumed; false when
  // it did not within `timeout` or the client went away.
  bool wait_for(std::string_view text, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (true) {
      const auto at = output_.find(text, consumed_);
      if (at != std::string::npos) {
        consumed_ = at + text.size();
        return true;
      }
      if (!read_until(deadline)) return false;
    }
  }

  // Reads whatever comes for `duration`: a user watching a pager or `top` (the client must not
  // block on a full pty meanwhile).
  void watch(std::chrono::milliseconds duration) {
    const auto until = Clock::now() + duration;
    while (Clock::now() < until) read_until(until);
    consumed_ = output_.size();
  }

  // Sends one byte and returns how long its echo took to come back.
  std::chrono::nanoseconds echo_round_trip(char byte, std::chrono::milliseconds timeout) {
    while (read_until(Clock::now())) {
    }
    if (output_.size() != consumed_) {
      throw std::runtime_error("output that is not an echo: " + unread());
    }
    const auto sent = Clock::now();
    type(std::string_view(&byte, 1));
    while (output_.size() == consumed_) {
      if (!read_until(sent + timeout)) {
        throw std::runtime_error("the echo did not come back within " +
                                 std::to_string(timeout.count()) + " ms");
      }
    }
    const auto elapsed = Clock::now() - sent;
    if (output_.substr(consumed_) != std::string(1, byte)) {
      throw std::runtime_error("sent '" + std::string(1, byte) + "', got back: " + unread());
    }
    consumed_ = output_.size();
    return elapsed;
  }

  // Waits for the client to exit, reading its output meanwhile; its exit status (128 + signal)
  // or nullopt when it is still running after `timeout`.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (!status_) {
      read_until(std::min(deadline, Clock::now() + std::chrono::milliseconds(20)));
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      } else if (Clock::now() >= deadline) {
        return std::nullopt;
      }
    }
    return status_;
  }

  // Neither line buffering nor echo in the local line discipline (the master shares the
  // slave's modes).
  bool is_raw() const {
    termios modes{};
    return ::tcgetattr(master_, &modes) == 0 && (modes.c_lflag & (ICANON | ECHO)) == 0;
  }

  std::string unread() const { return output_.substr(consumed_, 2000); }
  std::string tail() const {
    return output_.substr(output_.size() - std::min<std::size_t>(output_.size(), 2000));
  }

 private:
  // Appends what one read gets, waiting for it until `deadline`; false when nothing came.
  bool read_until(Clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    pollfd fd{master_, POLLIN, 0};
    if (::poll(&fd, 1, static_cast<int>(std::max<long>(left, 0))) <= 0) return false;
    char buffer[16384];
    const ssize_t n = ::read(master_, buffer, sizeof buffer);
    if (n <= 0) return false;  // EIO once the client is gone
    output_.append(buffer, static_cast<std::size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int master_ = -1;
  std::string output_;
  std::size_t consumed_ = 0;
  std::optional<int> status_;
};

std::vector<std::string> tty_command(const Route& route, const std::string& command = {}) {
  // -e none: a byte after a newline is never taken for an escape.
  auto argv = concat({"ssh", "-tt", "-e", "none"}, route.ssh);
  if (!command.empty()) argv.push_back(command);
  return argv;
}

// --------------------------------------------------------------------------- keystroke latency

// The remote pty raw and silent, so the only echo is cat's copy of each byte, written back as
// soon as it is read. isig stays on: ^C ends the session.
const char* const kEchoCommand = "stty raw -echo isig; printf 'pcl-echo-%s' ready; exec cat";
constexpr int kWarmupSamples = 20;

struct Latency {
  std::string route;
  std::vector<double> ms;  // sorted

  double percentile(double p) const {
    const auto rank =
        static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(ms.size())));
    return ms[std::clamp<std::size_t>(rank, 1, ms.size()) - 1];
  }
};

std::vector<Latency> measure_latency(const std::vector<Route>& routes, int samples) {
  std::vector<std::unique_ptr<Terminal>> terminals;
  std::vector<Latency> results;
  for (const Route& route : routes) {
    terminals.push_back(std::make_unique<Terminal>(tty_command(route, kEchoCommand)));
    if (!terminals.back()->wait_for("pcl-echo-ready", std::chrono::seconds(30))) {
      throw std::runtime_error(route.name +
                               ": the echo session did not start: " + terminals.back()->tail());
    }
    results.push_back({route.name, {}});
  }
  // A random pause before each byte, so the samples do not lock onto a timer's phase.
  std::mt19937 random(7);
  std::uniform_int_distribution<int> pause_us(2000, 5000);
  for (int i = 0; i < kWarmupSamples + samples; ++i) {
    const char byte = static_cast<char>('a' + i % 26);
    for (std::size_t r = 0; r < routes.size(); ++r) {
      std::this_thread::sleep_for(std::chrono::microseconds(pause_us(random)));
      try {
        const auto elapsed = terminals[r]->echo_round_trip(byte, std::chrono::seconds(5));
        if (i >= kWarmupSamples) {
          results[r].ms.push_back(std::chrono::duration<double, std::milli>(elapsed).count());
        }
      } catch (const std::exception& e) {
        throw std::runtime_error(routes[r].name + ", byte " + std::to_string(i) + ": " + e.what());
      }
    }
  }
  for (std::size_t r = 0; r < routes.size(); ++r) {
    terminals[r]->type("\x03");
    if (!terminals[r]->wait_exit(std::chrono::seconds(10))) {
      throw std::runtime_error(routes[r].name +
                               ": ssh did not exit after ^C: " + terminals[r]->tail());
    }
    std::sort(results[r].ms.begin(), results[r].ms.end());
  }
  return results;
}

// --------------------------------------------------------------------------- recording size

struct StoredRecording {
  std::string what;
  // compressed and stored: of the live form (chunk records, as shipped while the session ran);
  // archived: of the segment records the node compacted it into once it ended.
  std::uint64_t raw_bytes = 0, compressed_bytes = 0, stored_bytes = 0, chunks = 0;
  std::uint64_t archived_bytes = 0, segments = 0;
  double seconds = 0;
  double one_frame_ratio = 0;  // the same events as one zstd frame at the highest level
};

// The newest session of the bastion's database, to tell which session a run creates.
std::int64_t last_session_id(const Routes& routes) {
  return std::stoll(PostgresCluster::shared().query(routes.gateway().bastion.database(),
                                                    "SELECT coalesce(max(id), 0) FROM sessions"));
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::istringstream in(text);
  for (std::string part; std::getline(in, part, separator);) parts.push_back(part);
  return parts;
}

// The session's events compressed as one zstd frame at the highest level, over their encoded
// size: what the content allows at best, without the chunk a second that a live recording cuts
// to be durable and seekable. Also the live form's sizes: the node compacts a recording once it
// is stored, and its live form (what was shipped while it ran) is rebuilt by `recording get
// --form live`, chunk record for chunk record as the node wrote it.
double one_frame_ratio(const Routes& routes, const std::string& session, StoredRecording& r) {
  TempDir scratch("portcullis-bench");
  const fs::path file = scratch / "session.pcr";
  routes.gateway().bastion.cli_checked(
      {"recording", "get", session, "--form", "live", "-o", file.string()});
  const recorder::ParsedRecording recording = recorder::parse(read_file(file));
  recorder::ChunkDecoder decoder(recording.version);
  recorder::ChunkBuffer events;
  for (const recorder::Chunk& chunk : recording.chunks) {
    for (const recorder::Event& event : decoder.next(chunk)) events.add(event);
    r.compressed_bytes += chunk.frame().size();
    r.stored_bytes += chunk.record.size();
  }
  std::string frame(ZSTD_compressBound(events.size()), '\0');
  const std::size_t size = ZSTD_compress(frame.data(), frame.size(), events.bytes().data(),
                                         events.size(), ZSTD_maxCLevel());
  if (ZSTD_isError(size) || events.empty()) {
    throw std::runtime_error("session " + session + ": cannot compress its events as one frame");
  }
  return static_cast<double>(size) / static_cast<double>(events.size());
}

// The recording of the one session opened after `before`, once the bastion has shipped it
// complete into PostgreSQL and compacted it. stored_bytes counts whole chunk records (frame,
// hash chain, times) of the live form, archived_bytes whole segment records.
StoredRecording shipped_recording(const Routes& routes, std::int64_t before, std::string what) {
  const PostgresCluster& db = PostgresCluster::shared();
  const std::string& database = routes.gateway().bastion.database();
  const std::string ids =
      db.query(database, "SELECT id FROM sessions WHERE id > " + std::to_string(before));
  if (ids.empty() || ids.find('\n') != std::string::npos) {
    throw std::runtime_error(what + ": expected one new session, found: '" + ids + "'");
  }
  const std::string state_query =
      "SELECT state || CASE WHEN archived_at IS NULL THEN '' ELSE ' archived' END "
      "FROM recordings WHERE session_id = " +
      ids;
  const bool complete =
      wait_until([&] { return db.query(database, state_query) == "complete archived"; },
                 std::chrono::seconds(60));
  if (!complete) {
    throw std::runtime_error(what + ": session " + ids + " has no complete recording (state '" +
                             db.query(database, state_query) + "')");
  }
  const auto row =
      split(db.query(database,
                     "SELECT raw_bytes, chunk_count, duration_us, "
                     "(SELECT sum(length(record)) FROM recording_segments s WHERE s.session_id = "
                     "r.session_id), (SELECT count(*) FROM recording_segments s "
                     "WHERE s.session_id = r.session_id) FROM recordings r WHERE session_id = " +
                         ids),
            '|');
  StoredRecording r{std::move(what)};
  r.raw_bytes = std::stoull(row.at(0));
  r.chunks = std::stoull(row.at(1));
  r.seconds = static_cast<double>(std::stoull(row.at(2))) / 1e6;
  r.archived_bytes = std::stoull(row.at(3));
  r.segments = std::stoull(row.at(4));
  r.one_frame_ratio = one_frame_ratio(routes, ids, r);
  return r;
}

// One thing a user does in the shell: keys typed one at a time, then a wait for the prompt, or
// `watch_s` seconds of watching a full-screen program (a pager, top, vim, watch).
struct Step {
  std::string keys;
  double watch_s = 0;  // 0: wait for the prompt
};

struct ShellSession {
  std::string what;
  std::vector<Step> steps;
};

const char* const kPrompt = "[pcl]$ ";
const Step kSetPrompt{"PS1='[pcl]\\$ '\r"};

// Listing: issue 5's example of a typical shell session, long and regular.
ShellSession listing_session() {
  return {"shell session, listing (`ls -lR /usr/share`)", {kSetPrompt, {"ls -lR /usr/share\r"}}};
}

// Reading: listings and whole files scroll past, each seen once; little repeats but the layout.
ShellSession reading_session() {
  return {"shell session, reading (ls -l /usr/bin, /etc/services, dpkg.log, man, less)",
          {kSetPrompt,
           {"lss\x7f -la ~\r"},
           {"ls -l /usr/bin\r"},
           {"cd /etc\r"},
           {"ls\r"},
           {"cat /etc/services\r"},
           {"grep -n ssh /etc/services\r"},
           {"ps aux --sort=-%cpu | head -40\r"},
           {"df -h\r"},
           {"tail -n 300 /var/log/dpkg.log\r"},
           {"man ls\r", 0.4},
           {" ", 0.4},
           {" ", 0.4},
           {"/sort\r", 0.4},
           {"n", 0.4},
           {"q"},
           {"less /usr/share/common-licenses/Apache-2.0\r", 0.4},
           {" ", 0.4},
           {" ", 0.4},
           {"G", 0.4},
           {"q"},
           {"top -b -n 1 | head -20\r"},
           {"uname -a\r"}}};
}

// Operating: watching the machine in full-screen programs that redraw what changed, looking
// through a config file in vim, the same short checks again.
ShellSession operating_session() {
  return {"shell session, operating (top, vim, watch, ps, df, free)",
          {kSetPrompt,
           {"uptime\r"},
           {"top -d 1\r", 8},
           {"q"},
           {"df -h\r"},
           {"free -m\r"},
           {"vim -R -n -i NONE /etc/ssh/sshd_config\r", 1},
           {"jjjjjjjjjjjjjjjjjjjj", 0.5},
           {"/Port\r", 0.5},
           {"\x06", 0.5},
           {"G", 0.5},
           {":q\r"},
           {"watch -n 1 'df -h; free -m'\r", 6},
           {"\x03"},
           {"ps aux --sort=-%cpu | head -15\r"},
           {"tail -n 20 /var/log/dpkg.log\r"},
           {"top -d 1\r", 5},
           {"q"},
           {"free -m\r"},
           {"uptime\r"}}};
}

void type_slowly(Terminal& terminal, const std::string& keys, std::chrono::milliseconds gap) {
  for (char key : keys) {
    terminal.type(std::string_view(&key, 1));
    std::this_thread::sleep_for(gap);
  }
}

StoredRecording record_shell_session(const Routes& routes, const ShellSession& session,
                                     const Options& options) {
  const std::int64_t before = last_session_id(routes);
  Terminal shell(tty_command(routes.bastion()));
  const std::chrono::milliseconds gap(options.key_gap_ms);
  if (!shell.wait_for("$ ", std::chrono::seconds(30))) {
    throw std::runtime_error("the shell session showed no prompt: " + shell.tail());
  }
  for (const Step& step : session.steps) {
    type_slowly(shell, step.keys, gap);
    if (step.watch_s > 0) {
      shell.watch(std::chrono::milliseconds(std::lround(step.watch_s * options.watch_ms)));
    } else if (!shell.wait_for(kPrompt, std::chrono::seconds(60))) {
      throw std::runtime_error("no prompt after `" + step.keys + "`: " + shell.tail());
    }
  }
  type_slowly(shell, "exit 0\r", gap);  // the status of the last command is not the point
  if (shell.wait_exit(std::chrono::seconds(30)) != 0) {
    throw std::runtime_error("the shell session did not end cleanly: " + shell.tail());
  }
  return shipped_recording(routes, before, session.what);
}

// `ninja -v` output for a clean build of this tree: its real compiler and linker command lines.
std::size_t write_build_log(const fs::path& file) {
  const std::string commands = run_checked({"ninja", "-C", PORTCULLIS_BUILD_DIR, "-t", "commands"});
  const auto lines = split(commands, '\n');
  std::string log;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    log +=
        "[" + std::to_string(i + 1) + "/" + std::to_string(lines.size()) + "] " + lines[i] + "\n";
  }
  write_file(file, log);
  return lines.size();
}

StoredRecording record_build_log(const Routes& routes, const Options& options) {
  TempDir scratch("portcullis-bench");
  // The target account reads the log: the folder must be open to it.
  fs::permissions(scratch.path(),
                  fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  const fs::path log = scratch / "build.log";
  const std::size_t lines = write_build_log(log);
  fs::permissions(log, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                           fs::perms::others_read);
  char pause[32];
  std::snprintf(pause, sizeof pause, "%.3f", options.build_line_ms / 1000.0);
  const std::string command = "while IFS= read -r line; do printf '%s\\n' \"$line\"; sleep " +
                              std::string(pause) + "; done < " + log.string();
  const std::int64_t before = last_session_id(routes);
  Terminal build(tty_command(routes.bastion(), command));
  const std::chrono::milliseconds timeout =
      std::chrono::seconds(60) + std::chrono::milliseconds(options.build_line_ms) * lines;
  if (build.wait_exit(timeout) != 0) {
    throw std::runtime_error("replaying the build log failed: " + build.tail());
  }
  return shipped_recording(routes, before,
                           "build log (" + std::to_string(lines) +
                               " lines of `ninja -v`, one per " +
                               std::to_string(options.build_line_ms) + " ms)");
}

// --------------------------------------------------------------------------- report

std::string label(const std::string& route) {
  if (route == "jump") return "OpenSSH jump host";
  if (route == "bastion") return "Portcullis, recording";
  return route;
}

constexpr double kAddedP99TargetMs = 2.0;
constexpr double kSizeTarget = 0.15;

std::string render_latency(const std::vector<Latency>& latency, const Options& options) {
  const auto by_name = [&](const std::string& name) {
    return *std::find_if(latency.begin(), latency.end(),
                         [&](const Latency& l) { return l.route == name; });
  };
  const Latency& direct = by_name("direct");
  const double jump_p99 = by_name("jump").percentile(99);
  const auto added = [&](const Latency& l, double p) {
    return l.route == "direct" ? std::string("-")
                               : fixed(l.percentile(p) - direct.percentile(p), 3);
  };
  std::ostringstream out;
  out << "Keystroke echo round trip, " << options.samples
      << " single bytes per route (`ssh -tt`, remote `stty raw -echo; cat`, routes "
         "interleaved):\n\n"
      << "| route | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) | added p50 over direct (ms) | "
         "added p99 over direct (ms) | p99 / jump host |\n|---|---|---|---|---|---|---|---|\n";
  for (const Latency& l : latency) {
    out << "| " << label(l.route) << " | " << fixed(l.percentile(50), 3) << " | "
        << fixed(l.percentile(90), 3) << " | " << fixed(l.percentile(99), 3) << " | "
        << fixed(l.ms.back(), 3) << " | " << added(l, 50) << " | " << added(l, 99) << " | "
        << fixed(l.percentile(99) / jump_p99, 2) << "x |\n";
  }
  const double added_p99 = by_name("bastion").percentile(99) - direct.percentile(99);
  out << "\nTarget: Portcullis adds < " << fixed(kAddedP99TargetMs, 0)
      << " ms p99 over direct: " << (added_p99 < kAddedP99TargetMs ? "met" : "MISSED") << " ("
      << fixed(added_p99, 3) << " ms).\n";
  return out.str();
}

std::string render_recordings(const std::vector<StoredRecording>& recordings) {
  std::ostringstream out;
  out << "Recording size (raw = encoded events; compressed = zstd frames and stored = whole "
         "chunk records of the live form, as shipped while the session runs; archived = whole "
         "segment records once the node has compacted it, measured in PostgreSQL; one frame = "
         "the same events compressed whole at zstd's highest level, the best the content "
         "allows):\n\n"
      << "| recording | duration (s) | chunks | raw (bytes) | compressed (bytes) | "
         "compressed / raw | stored / raw | archived (bytes) | archived / raw | one frame / raw "
         "| archived / one frame | target <= 15% |\n"
         "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const StoredRecording& r : recordings) {
    const double raw = static_cast<double>(r.raw_bytes);
    const double ratio = static_cast<double>(r.compressed_bytes) / raw;
    std::string verdict = ratio <= kSizeTarget ? "met" : "MISSED";
    if (ratio > kSizeTarget && r.one_frame_ratio > kSizeTarget) verdict += " (by the content)";
    out << "| " << r.what << " | " << fixed(r.seconds, 1) << " | " << r.chunks << " | "
        << r.raw_bytes << " | " << r.compressed_bytes << " | " << fixed(100 * ratio, 1) << "% | "
        << fixed(100 * static_cast<double>(r.stored_bytes) / raw, 1) << "% | " << r.archived_bytes
        << " | " << fixed(100 * static_cast<double>(r.archived_bytes) / raw, 1) << "% | "
        << fixed(100 * r.one_frame_ratio, 1) << "% | "
        << fixed(static_cast<double>(r.archived_bytes) / (r.one_frame_ratio * raw), 2) << "x | "
        << verdict << " |\n";
  }
  return out.str();
}

}  // namespace
}  // namespace portcullis::bench

int main(int argc, char** argv) {
  using namespace portcullis::bench;
  try {
    const Options options = parse_options(argc, argv);
    Routes routes;
    std::cerr << "measuring keystroke latency...\n";
    const auto latency =
        measure_latency({routes.direct(), routes.jump(), routes.bastion()}, options.samples);
    routes.wait_for_shipping();
    std::vector<StoredRecording> recordings;
    for (const ShellSession& session :
         {listing_session(), reading_session(), operating_session()}) {
      std::cerr << "recording a " << session.what << "...\n";
      recordings.push_back(record_shell_session(routes, session, options));
    }
    std::cerr << "recording a build log...\n";
    recordings.push_back(record_build_log(routes, options));
    const std::string report =
        render_latency(latency, options) + "\n" + render_recordings(recordings);
    publish(report, options.markdown);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "interactive_bench: " << e.what() << "\n";
    return 1;
  }
}
