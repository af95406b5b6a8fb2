// A value whose every change is told to an observer, for gauges that count how many objects are
// in each state (connections by phase): the holder assigns and compares it as a plain value,
// and cannot forget to report a change, or the end of the object that held it.
#pragma once

#include <optional>
#include <utility>

namespace portcullis::proxy {

// `Observer` is called as observer(from, to): from nullopt when the value is made, to nullopt
// when it is destroyed. It must not throw.
template <typename Value, typename Observer>
class Observed {
 public:
  Observed(Value value, Observer observer) : value_(value), observer_(std::move(observer)) {
    observer_(std::nullopt, value_);
  }
  ~Observed() { observer_(value_, std::nullopt); }
  Observed(const Observed&) = delete;
  Observed& operator=(const Observed&) = delete;

  Observed& operator=(Value value) {
    if (value != value_) {
      const Value from = std::exchange(value_, value);
      observer_(from, value_);
    }
    return *this;
  }
  operator Value() const { return value_; }  // NOLINT(google-explicit-constructor): a value

 private:
  Value value_;
  Observer observer_;
};

}  // namespace portcullis::proxy
