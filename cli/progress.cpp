#include "cli/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>

namespace portcullis::cli {
namespace {

using std::chrono::steady_clock;

std::string clock_text(std::uint64_t seconds) {
  char text[32];
  if (seconds >= 3600) {
    std::snprintf(text, sizeof text, "%llu:%02llu:%02llu",
                  static_cast<unsigned long long>(seconds / 3600),
                  static_cast<unsigned long long>(seconds / 60 % 60),
                  static_cast<unsigned long long>(seconds % 60));
  } else {
    std::snprintf(text, sizeof text, "%llu:%02llu", static_cast<unsigned long long>(seconds / 60),
                  static_cast<unsigned long long>(seconds % 60));
  }
  return text;
}

std::string eta(std::uint64_t done, std::uint64_t total, steady_clock::duration elapsed) {
  if (done >= total) return clock_text(0);
  if (done == 0 || elapsed <= steady_clock::duration::zero()) return "--:--";
  const double seconds = std::chrono::duration<double>(elapsed).count() *
                         static_cast<double>(total - done) / static_cast<double>(done);
  return clock_text(static_cast<std::uint64_t>(seconds + 0.5));
}

int terminal_width(int fd) {
  winsize size{};
  if (ioctl(fd, TIOCGWINSZ, &size) != 0 || size.ws_col == 0) return 80;
  return size.ws_col;
}

}  // namespace

std::string format_progress(const std::string& label, std::uint64_t done, std::uint64_t total,
                            steady_clock::duration elapsed, int width) {
  done = std::min(done, total);
  const double fraction = total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
  char percent[8];
  std::snprintf(percent, sizeof percent, "%3d%%", static_cast<int>(fraction * 100));
  const std::string tail = std::string("  ") + percent + "  ETA " + eta(done, total, elapsed);
  constexpr int kMinBar = 10;
  const int bar = width - 1 - static_cast<int>(label.size() + tail.size()) - 3;  // " [" "]"
  if (bar < kMinBar)
    return (label + tail).substr(0, static_cast<std::size_t>(std::max(0, width - 1)));
  const auto filled = static_cast<std::size_t>(fraction * bar);
  return label + " [" + std::string(filled, '#') +
         std::string(static_cast<std::size_t>(bar) - filled, '.') + "]" + tail;
}

ProgressBar::ProgressBar(std::string label, std::uint64_t total, std::ostream* out, int width,
                         ProgressClock clock)
    : label_(std::move(label)),
      total_(total),
      out_(out),
      width_(width),
      clock_(std::move(clock)),
      started_(clock_()),
      last_frame_(started_) {}

ProgressBar ProgressBar::on_stderr(std::string label, std::uint64_t total) {
  const bool terminal = isatty(STDERR_FILENO) == 1;
  return ProgressBar(std::move(label), total, terminal ? &std::cerr : nullptr,
                     terminal ? terminal_width(STDERR_FILENO) : 0,
                     [] { return steady_clock::now(); });
}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::update(std::uint64_t done) {
  if (out_ == nullptr) return;
  const steady_clock::time_point now = clock_();
  if (now - last_frame_ < kInterval) return;
  last_frame_ = now;
  drawn_ = true;
  *out_ << '\r' << format_progress(label_, done, total_, now - started_, width_) << "\x1b[K"
        << std::flush;
}

void ProgressBar::finish() {
  if (out_ != nullptr && drawn_) *out_ << "\r\x1b[K" << std::flush;
  out_ = nullptr;
}

}  // namespace portcullis::cli
