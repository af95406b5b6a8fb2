// A progress bar for long exports and searches: drawn on stderr only when stderr is a terminal,
// at most ten times a second, and erased when the work is done, so pipes and files never see it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

namespace portcullis::cli {

using ProgressClock = std::function<std::chrono::steady_clock::time_point()>;

// "LABEL [#######.............]  35%  ETA 0:13" in at most `width - 1` columns (a full last
// column would wrap on some terminals). The ETA assumes the rest goes as fast as what is done,
// and is "--:--" until something is.
std::string format_progress(const std::string& label, std::uint64_t done, std::uint64_t total,
                            std::chrono::steady_clock::duration elapsed, int width);

class ProgressBar {
 public:
  static constexpr std::chrono::milliseconds kInterval{100};

  // Draws on `out`, or nowhere when it is null. The first frame comes after kInterval, so work
  // that ends sooner shows nothing.
  ProgressBar(std::string label, std::uint64_t total, std::ostream* out, int width,
              ProgressClock clock);
  // On stderr, as wide as it, when stderr is a terminal; otherwise silent.
  static ProgressBar on_stderr(std::string label, std::uint64_t total);
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  ~ProgressBar();

  // `done` of the total; redraws when kInterval has passed since the last frame.
  void update(std::uint64_t done);
  // Erases the bar if one was drawn; further updates draw nothing.
  void finish();

 private:
  std::string label_;
  std::uint64_t total_;
  std::ostream* out_;
  int width_;
  ProgressClock clock_;
  std::chrono::steady_clock::time_point started_, last_frame_;
  bool drawn_ = false;
};

}  // namespace portcullis::cli
