#include "proxy/recording_observer.h"

#include <utility>

namespace portcullis::proxy {

recorder::EventKind event_kind(Stream stream) {
  switch (stream) {
    case Stream::output:
      return recorder::EventKind::output;
    case Stream::error_output:
      return recorder::EventKind::error_output;
    case Stream::input:
      return recorder::EventKind::input;
  }
  return recorder::EventKind::output;
}

RecordingObserver::RecordingObserver(std::shared_ptr<recorder::SessionRecording> recording)
    : recording_(std::move(recording)) {}

void RecordingObserver::bytes(Stream stream, std::string_view data) {
  recording_->data(event_kind(stream), data);
}

void RecordingObserver::joined_input(const std::string& author, std::string_view data) {
  recording_->joined_input(author, data);
}

void RecordingObserver::resize(int cols, int rows) { recording_->resize(cols, rows); }

void RecordingObserver::exec(const std::string& command_line) { recording_->exec(command_line); }

void RecordingObserver::marker(const std::string& text) { recording_->marker(text); }

void RecordingObserver::watched(bool watched) { recording_->set_watched(watched); }

void RecordingObserver::end(const std::string& reason) { recording_->finish(reason); }

bool RecordingObserver::ready() const { return !recording_->backlogged(); }

}  // namespace portcullis::proxy
