#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "proxy/byte_observer.h"

namespace portcullis::proxy {
namespace {

// Writes every call it gets into a shared log, prefixed with its name, so order shows across
// observers.
class LoggingObserver : public ByteObserver {
 public:
  LoggingObserver(std::string name, std::vector<std::string>& log)
      : name_(std::move(name)), log_(log) {}

  void bytes(Stream stream, std::string_view data) override {
    const char* kind = stream == Stream::input ? "input" : "output";
    log_.push_back(name_ + " " + kind + " " + std::string(data));
  }
  void resize(int cols, int rows) override {
    log_.push_back(name_ + " resize " + std::to_string(cols) + "x" + std::to_string(rows));
  }
  void exec(const std::string& command_line) override {
    log_.push_back(name_ + " exec " + command_line);
  }
  void marker(const std::string& text) override { log_.push_back(name_ + " marker " + text); }
  void end(const std::string& reason) override { log_.push_back(name_ + " end " + reason); }
  bool ready() const override { return ready_; }

  bool ready_ = true;

 private:
  std::string name_;
  std::vector<std::string>& log_;
};

// Bytes only: the markers have defaults, so such an observer overrides nothing else.
class CountingObserver : public ByteObserver {
 public:
  void bytes(Stream, std::string_view data) override { bytes_seen += data.size(); }
  std::size_t bytes_seen = 0;
};

class ByteObserversTest : public ::testing::Test {
 protected:
  std::shared_ptr<LoggingObserver> observer(const std::string& name) {
    auto added = std::make_shared<LoggingObserver>(name, log_);
    observers_.add(added);
    return added;
  }

  std::vector<std::string> log_;
  ByteObservers observers_;
};

// Every event reaches every observer, in the order the observers were added.
TEST_F(ByteObserversTest, PublishesEachEventToEveryObserverInOrder) {
  observer("recording");
  observer("watch");
  observers_.exec("uptime");
  observers_.bytes(Stream::output, "up 3 days");
  observers_.bytes(Stream::input, "q");
  observers_.resize(120, 40);
  observers_.marker("grant_warning 5m");
  EXPECT_EQ(log_, (std::vector<std::string>{
                      "recording exec uptime", "watch exec uptime", "recording output up 3 days",
                      "watch output up 3 days", "recording input q", "watch input q",
                      "recording resize 120x40", "watch resize 120x40",
                      "recording marker grant_warning 5m", "watch marker grant_warning 5m"}));
}

// An observer interested in bytes alone needs no marker handlers.
TEST_F(ByteObserversTest, ObserverOfBytesAloneIgnoresMarkers) {
  auto counter = std::make_shared<CountingObserver>();
  observers_.add(counter);
  observers_.bytes(Stream::error_output, "oops\n");
  observers_.marker("upstream_closed");
  observers_.end("client_exit");
  EXPECT_EQ(counter->bytes_seen, 5u);
}

// The end goes to every observer once; what comes after reaches no one.
TEST_F(ByteObserversTest, EndReachesEveryObserverOnceAndLetsThemGo) {
  auto recording = observer("recording");
  observer("metrics");
  observers_.end("client_exit");
  observers_.bytes(Stream::output, "late");
  observers_.marker("upstream_closed");
  observers_.end("client_exit");
  EXPECT_EQ(log_,
            (std::vector<std::string>{"recording end client_exit", "metrics end client_exit"}));
  EXPECT_EQ(recording.use_count(), 1);  // the set holds it no more
}

// With no observer the bridge is never held back.
TEST_F(ByteObserversTest, NoObserversIsReady) { EXPECT_TRUE(observers_.ready()); }

// Back-pressure: one observer that is not ready pauses the session; it moves again only once
// every observer is ready.
TEST_F(ByteObserversTest, NotReadyWhileAnyObserverIsBehind) {
  auto recording = observer("recording");
  auto watch = observer("watch");
  EXPECT_TRUE(observers_.ready());
  recording->ready_ = false;
  EXPECT_FALSE(observers_.ready());
  watch->ready_ = false;
  recording->ready_ = true;
  EXPECT_FALSE(observers_.ready());
  watch->ready_ = true;
  EXPECT_TRUE(observers_.ready());
}

// An observer that ended holds nothing back.
TEST_F(ByteObserversTest, EndedObserversNoLongerApplyBackPressure) {
  observer("recording")->ready_ = false;
  EXPECT_FALSE(observers_.ready());
  observers_.end("killed");
  EXPECT_TRUE(observers_.ready());
}

}  // namespace
}  // namespace portcullis::proxy
