#include "proxy/loop_lag.h"

#include <algorithm>

namespace portcullis::proxy {

LoopLag::LoopLag(boost::asio::io_context& loop, Clock::duration interval, Tick tick)
    : interval_(interval), tick_(std::move(tick)), timer_(loop) {}

void LoopLag::start() {
  stopped_ = false;
  arm();
}

void LoopLag::stop() {
  stopped_ = true;
  timer_.cancel();
}

// Each tick is armed from when the last one ran, not from when it was due: after the loop was
// held up for a second, the next tick measures the loop as it is then, instead of four ticks
// in a row reporting the same second again.
void LoopLag::arm() {
  due_ = Clock::now() + interval_;
  timer_.expires_at(due_);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    tick_(std::max(Clock::now() - due_, Clock::duration::zero()));
    if (!stopped_) arm();
  });
}

}  // namespace portcullis::proxy
