// The user's own terminal for the CLI's full-screen views (`play`, `session watch`): raw mode on
// an alternate screen, its size, and the keys typed.
#pragma once

#include <termios.h>

#include <chrono>
#include <csignal>
#include <string>

namespace portcullis::cli {

// Set by SIGINT/SIGTERM and SIGWINCH while a RawTerminal is up.
extern volatile sig_atomic_t interrupted;
extern volatile sig_atomic_t viewer_resized;

// Puts the user's terminal in raw mode on an alternate screen, and puts it back however the
// view ends (q, Ctrl-C, an exception). Throws UsageError with `without_terminal` when standard
// input is not a terminal.
class RawTerminal {
 public:
  explicit RawTerminal(const std::string& without_terminal);
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;
  ~RawTerminal();

 private:
  termios saved_{};
  struct sigaction saved_int_ {};
  struct sigaction saved_term_ {};
  struct sigaction saved_winch_ {};
};

struct TerminalSize {
  int cols = 0, rows = 0;
};

// The viewer's terminal; 0x0 when it does not say.
TerminalSize viewer_size();

// Reads what is typed within `timeout`; "" when nothing was.
std::string read_keys(std::chrono::milliseconds timeout);

}  // namespace portcullis::cli
