// The CLI's progress bar: what one frame says, and how often frames are drawn (on a clock the
// test moves by hand).
#include "cli/progress.h"

#include <gtest/gtest.h>

#include <sstream>

namespace portcullis::cli {
namespace {

using namespace std::chrono_literals;
using std::chrono::steady_clock;

TEST(ProgressFormat, BarPercentAndEta) {
  // 30 s for a quarter: 90 s to go.
  EXPECT_EQ(format_progress("export", 25, 100, 30s, 50),
            "export [######..................]   25%  ETA 1:30");
  EXPECT_EQ(format_progress("export", 25, 100, 30s, 50).size(), 49u);
  EXPECT_EQ(format_progress("search", 100, 100, 2s, 40), "search [##############]  100%  ETA 0:00");
  EXPECT_EQ(format_progress("x", 1, 3, 3h, 40), "x [#####...........]   33%  ETA 6:00:00");
}

TEST(ProgressFormat, NothingDoneYetAndOddTotals) {
  EXPECT_EQ(format_progress("export", 0, 100, 5s, 40), "export [.............]    0%  ETA --:--");
  EXPECT_EQ(format_progress("export", 7, 0, 5s, 40), "export [##############]  100%  ETA 0:00");
  EXPECT_EQ(format_progress("export", 150, 100, 5s, 40), "export [##############]  100%  ETA 0:00");
  // Too narrow for a bar: the numbers, cut to fit.
  EXPECT_EQ(format_progress("export", 50, 100, 5s, 30), "export   50%  ETA 0:05");
  EXPECT_EQ(format_progress("export", 50, 100, 5s, 12), "export   50");
}

class ManualClock {
 public:
  steady_clock::time_point now() const { return now_; }
  void advance(steady_clock::duration d) { now_ += d; }
  ProgressClock function() {
    return [this] { return now_; };
  }

 private:
  steady_clock::time_point now_{1h};
};

std::size_t frames(const std::string& out) {
  std::size_t count = 0;
  for (std::size_t at = out.find("ETA"); at != std::string::npos; at = out.find("ETA", at + 1)) {
    ++count;
  }
  return count;
}

TEST(ProgressBar, AtMostTenFramesASecondAndErasedAtTheEnd) {
  ManualClock clock;
  std::ostringstream out;
  {
    ProgressBar bar("export", 1000, &out, 60, clock.function());
    // Quick work shows nothing at all.
    for (int i = 0; i < 50; ++i) {
      clock.advance(1ms);
      bar.update(static_cast<std::uint64_t>(i));
    }
    EXPECT_EQ(out.str(), "");
    // Two seconds of updates every millisecond: about 20 frames, not 2000.
    for (int i = 0; i < 2000; ++i) {
      clock.advance(1ms);
      bar.update(static_cast<std::uint64_t>(i / 2));
    }
    EXPECT_GE(frames(out.str()), 19u);
    EXPECT_LE(frames(out.str()), 21u);
    EXPECT_EQ(out.str().rfind("\rexport [", 0), 0u);
    EXPECT_NE(out.str().find("\x1b[K"), std::string::npos);
  }
  // The destructor erased the line it drew on.
  const std::string all = out.str();
  EXPECT_EQ(all.substr(all.size() - 4), "\r\x1b[K");
  EXPECT_NE(all.substr(0, all.size() - 4).find("ETA"), std::string::npos);
}

TEST(ProgressBar, FinishErasesOnceAndStopsDrawing) {
  ManualClock clock;
  std::ostringstream out;
  ProgressBar bar("search", 10, &out, 60, clock.function());
  clock.advance(150ms);
  bar.update(5);
  EXPECT_NE(out.str().find(" 50%"), std::string::npos);
  bar.finish();
  const std::string finished = out.str();
  EXPECT_EQ(finished.substr(finished.size() - 4), "\r\x1b[K");
  clock.advance(1s);
  bar.update(9);
  bar.finish();
  EXPECT_EQ(out.str(), finished);
}

TEST(ProgressBar, NeverDrawnNeverErased) {
  ManualClock clock;
  std::ostringstream out;
  {
    ProgressBar bar("export", 10, &out, 60, clock.function());
    clock.advance(50ms);
    bar.update(10);
  }
  EXPECT_EQ(out.str(), "");
}

TEST(ProgressBar, SilentWithoutAStream) {
  ManualClock clock;
  ProgressBar bar("export", 10, nullptr, 60, clock.function());
  clock.advance(1s);
  bar.update(5);  // nothing to draw on: must not crash
  bar.finish();
}

}  // namespace
}  // namespace portcullis::cli
