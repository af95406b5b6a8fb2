#include "proxy/byte_observer.h"

#include <algorithm>
#include <utility>

namespace portcullis::proxy {

void ByteObservers::add(std::shared_ptr<ByteObserver> observer) {
  observers_.push_back(std::move(observer));
}

void ByteObservers::bytes(Stream stream, std::string_view data) {
  for (const auto& observer : observers_) observer->bytes(stream, data);
}

void ByteObservers::joined_input(const std::string& author, std::string_view data) {
  for (const auto& observer : observers_) observer->joined_input(author, data);
}

void ByteObservers::watched(bool watched) {
  for (const auto& observer : observers_) observer->watched(watched);
}

void ByteObservers::resize(int cols, int rows) {
  for (const auto& observer : observers_) observer->resize(cols, rows);
}

void ByteObservers::exec(const std::string& command_line) {
  for (const auto& observer : observers_) observer->exec(command_line);
}

void ByteObservers::marker(const std::string& text) {
  for (const auto& observer : observers_) observer->marker(text);
}

void ByteObservers::end(const std::string& reason) {
  for (const auto& observer : std::exchange(observers_, {})) observer->end(reason);
}

bool ByteObservers::ready() const {
  return std::ranges::all_of(observers_, [](const auto& observer) { return observer->ready(); });
}

}  // namespace portcullis::proxy
