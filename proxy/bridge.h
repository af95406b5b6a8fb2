// Moves bytes between the client's session channel and the target's, in both directions,
// never more than the receiving side's window: a slow reader stops the writer through SSH
// flow control instead of growing buffers here. Every byte moved is published to the session's
// observers, and nothing moves while one of them is not ready (ByteObservers::ready()).
#pragma once

#include <libssh/callbacks.h>
#include <libssh/libssh.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "proxy/byte_observer.h"

namespace portcullis::proxy {

class Bridge {
 public:
  // `observers` outlives the bridge (both belong to the session).
  Bridge(ssh_channel client, ssh_channel upstream, ByteObservers& observers);
  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;

  // Moves what the windows allow; forwards EOF once a side's output is drained. While an
  // observer is not ready it moves nothing: the data waits in the SSH windows until the
  // session, woken by that observer, calls again.
  // Returns false when a channel failed (the session should end).
  bool transfer();

  // Data reached a channel buffer after transfer() last looked (libssh reads sockets as
  // a side effect of many calls), and the observers can take it: the caller must run
  // transfer() again.
  bool more_pending() const { return data_arrived_ && observers_.ready(); }

  // Keys typed by someone who joined the session, written to the target before the next keys
  // read from the client (observers are told by the caller). False when more than kMaxInjected
  // bytes wait already: the keys are dropped.
  bool inject_input(std::string_view keys);
  static constexpr std::size_t kMaxInjected = std::size_t{64} * 1024;
  // A moderated session without a moderator: the client's keys wait in its SSH window.
  void pause_input(bool paused) { input_paused_ = paused; }

  // The target closed its channel and everything it sent has reached the client.
  bool upstream_done() const;
  std::uint64_t bytes_to_client() const { return bytes_to_client_; }
  std::uint64_t bytes_to_upstream() const { return bytes_to_upstream_; }

 private:
  struct Pipe {
    Pipe(ssh_channel source, ssh_channel sink, Stream kind)
        : from(source), to(sink), stream(kind), is_stderr(kind == Stream::error_output) {}
    ssh_channel from;
    ssh_channel to;
    Stream stream;
    bool is_stderr;
    // Bytes read but not yet accepted by `to` (a short write during key re-exchange).
    // Allocated only when that happens.
    std::unique_ptr<char[]> pending;
    std::size_t pending_begin = 0;
    std::size_t pending_end = 0;
    bool source_drained = false;  // `from` reached EOF and its buffer is empty
  };

  // Returns false on a channel error.
  bool move(Pipe& pipe, std::uint64_t& counter);
  bool move_all();
  static int on_data(ssh_session, ssh_channel, void*, uint32_t, int, void* userdata);
  bool flush_pending(Pipe& pipe, std::uint64_t& counter);
  bool flush_injected();
  void forward_eof();

  ssh_channel client_;
  ssh_channel upstream_;
  ByteObservers& observers_;
  Pipe to_client_out_;
  Pipe to_client_err_;
  Pipe to_upstream_;
  // Registered on both channels; notes arrivals without consuming them.
  ssh_channel_callbacks_struct callbacks_{};
  std::string injected_;  // joined keys not yet taken by the target's window
  bool input_paused_ = false;
  bool data_arrived_ = false;
  bool eof_sent_to_client_ = false;
  bool eof_sent_to_upstream_ = false;
  std::uint64_t bytes_to_client_ = 0;
  std::uint64_t bytes_to_upstream_ = 0;
};

}  // namespace portcullis::proxy
