// What a session publishes while it bridges: each direction's bytes as the bridge moves them, and
// the session's markers (a resize, the command, warnings, the end). Any number of observers
// subscribe: the recording first; live watch, alert rules and metrics plug in the same way.
// Back-pressure is defined once, in ByteObservers::ready().
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::proxy {

// output and error_output go from the target to the client, input from the client to the target.
enum class Stream { output, error_output, input };

// One subscriber. Every call comes on the loop thread, in the order things happened, and must
// not block: an observer that does slow work queues it (the recording hands chunks to its I/O
// pool).
class ByteObserver {
 public:
  virtual ~ByteObserver() = default;

  virtual void bytes(Stream stream, std::string_view data) = 0;
  // Input typed by `author`, who joined the session from wherever they are; by default the
  // same as the user's own input.
  virtual void joined_input(const std::string& /*author*/, std::string_view data) {
    bytes(Stream::input, data);
  }
  virtual void resize(int /*cols*/, int /*rows*/) {}
  // The exec request's command line, or "subsystem <name>".
  virtual void exec(const std::string& /*command_line*/) {}
  // A short text such as "grant_warning 5m", "clamped window-change 0x0", "upstream_closed".
  virtual void marker(const std::string& /*text*/) {}
  // Someone watches the session live (or no one any more): the recording ships faster.
  virtual void watched(bool /*watched*/) {}
  // The session ended (access::to_string of its end reason); nothing follows.
  virtual void end(const std::string& /*reason*/) {}

  // False while this observer cannot take more bytes (the recording's spool is behind). One
  // that says false must wake its session when it turns true again (the session hands a wake-up
  // to every observer that can apply back-pressure when it creates it).
  virtual bool ready() const { return true; }
};

// A session's observers, in the order they were added. Each event goes to every one of them.
class ByteObservers {
 public:
  void add(std::shared_ptr<ByteObserver> observer);

  void bytes(Stream stream, std::string_view data);
  void joined_input(const std::string& author, std::string_view data);
  void resize(int cols, int rows);
  void exec(const std::string& command_line);
  void marker(const std::string& text);
  void watched(bool watched);
  // Tells every observer and lets them go: later events reach no one.
  void end(const std::string& reason);

  // Back-pressure: the bridge reads nothing while any observer is not ready (the peers wait in
  // their SSH windows), and moves data again once every one of them is, when the session is
  // woken.
  bool ready() const;

 private:
  std::vector<std::shared_ptr<ByteObserver>> observers_;
};

}  // namespace portcullis::proxy
