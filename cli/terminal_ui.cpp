#include "cli/terminal_ui.h"

#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <iostream>

#include "cli/cli.h"
#include "player/live.h"

namespace portcullis::cli {

volatile sig_atomic_t interrupted = 0;
volatile sig_atomic_t viewer_resized = 0;

RawTerminal::RawTerminal(const std::string& without_terminal) {
  if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_) != 0) {
    throw UsageError(without_terminal);
  }
  termios raw = saved_;
  cfmakeraw(&raw);
  tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw);
  struct sigaction action {};
  action.sa_handler = [](int) { interrupted = 1; };
  sigaction(SIGINT, &action, &saved_int_);
  sigaction(SIGTERM, &action, &saved_term_);
  struct sigaction on_resize {};
  on_resize.sa_handler = [](int) { viewer_resized = 1; };
  sigaction(SIGWINCH, &on_resize, &saved_winch_);
  std::cout << player::kEnterView << std::flush;
}

RawTerminal::~RawTerminal() {
  std::cout << player::kLeaveView << std::flush;
  tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
  sigaction(SIGINT, &saved_int_, nullptr);
  sigaction(SIGTERM, &saved_term_, nullptr);
  sigaction(SIGWINCH, &saved_winch_, nullptr);
}

TerminalSize viewer_size() {
  winsize size{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) != 0) return {};
  return {size.ws_col, size.ws_row};
}

std::string read_keys(std::chrono::milliseconds timeout) {
  pollfd fd{STDIN_FILENO, POLLIN, 0};
  if (poll(&fd, 1, static_cast<int>(timeout.count())) <= 0) return "";
  char buffer[64];
  const ssize_t n = read(STDIN_FILENO, buffer, sizeof buffer);
  return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : "";
}

}  // namespace portcullis::cli
