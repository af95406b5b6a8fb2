// The session's recording as a byte observer: the proxy's glue to recorder::SessionRecording,
// which does the chunking, the spool writing and the back-pressure accounting.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "proxy/byte_observer.h"
#include "recorder/service.h"

namespace portcullis::proxy {

// The kind of event a stream's bytes make in a recording.
recorder::EventKind event_kind(Stream stream);

class RecordingObserver final : public ByteObserver {
 public:
  // `recording` was created with the session's wake-up as its on_drained.
  explicit RecordingObserver(std::shared_ptr<recorder::SessionRecording> recording);

  // ByteObserver
  void bytes(Stream stream, std::string_view data) override;
  void joined_input(const std::string& author, std::string_view data) override;
  void resize(int cols, int rows) override;
  void exec(const std::string& command_line) override;
  void marker(const std::string& text) override;
  void watched(bool watched) override;
  void end(const std::string& reason) override;
  bool ready() const override;

 private:
  std::shared_ptr<recorder::SessionRecording> recording_;
};

}  // namespace portcullis::proxy
