// Running a program to completion with a time limit, from a worker thread: the alert command
// channel and the host certificate scan. No shell unless argv asks for one; nothing of the
// daemon's environment is passed on unless given.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace portcullis {

struct ProgramRun {
  std::optional<int> status;  // as from waitpid; empty when it was killed at its time limit
  std::string out;            // the first `kept` bytes of its stdout
  std::string err;            // and of its stderr
};

struct Program {
  std::vector<std::string> argv;         // argv[0]: an absolute path (no PATH search)
  std::vector<std::string> environment;  // "NAME=value", all it gets
  std::string input;                     // written to its stdin, then EOF
  std::size_t kept = 2048;
};

// Starts the program in "/", as a session leader with only stdin, stdout and stderr open and
// default signal handling; kills its process group once `time_limit()` has passed (asked again
// while it runs, so a limit that moves closer is honoured). Throws std::system_error when it
// cannot be started.
ProgramRun run_program(const Program& program,
                       const std::function<std::chrono::steady_clock::time_point()>& time_limit);

// "exit status 3", "killed by signal 9"...
std::string describe_wait_status(int status);

}  // namespace portcullis
