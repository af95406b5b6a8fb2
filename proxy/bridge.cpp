#include "proxy/bridge.h"

#include <poll.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

namespace portcullis::proxy {
namespace {

// Larger than OpenSSH's 32 KiB maximum packet, so one read drains a packet or more.
constexpr std::size_t kChunk = std::size_t{64} * 1024;
// OpenSSH advertises 32 KiB packets for session channels and sends that much data in each;
// libssh 0.10 puts at most 32 KiB minus 10 bytes (type, channel, length, padding length) of
// data in a packet, so each 32 KiB relayed went out as 32758 bytes and a packet of 10, each
// with its own padding, MAC, random bytes and send() (strace: a 44-byte send after every full
// one). While a stream is in bulk the tail under a packet's worth waits for the next read.
constexpr std::size_t kPacketData = std::size_t{32768} - 10;

// All bridges of a loop thread share one read buffer; bytes only stay in a bridge
// when a write comes up short. On the heap, not in thread-local storage itself: static TLS is
// carved out of every thread's stack, and 64 KiB of it left the HTTP server's workers (whose
// stacks are 100 KiB) too little to answer a /metrics scrape.
char* scratch() {
  thread_local const std::unique_ptr<std::array<char, kChunk>> buffer =
      std::make_unique<std::array<char, kChunk>>();
  return buffer->data();
}

// More of the stream is on its way: the source's socket has bytes the kernel holds.
bool more_coming(ssh_channel from) {
  const socket_t fd = ssh_get_fd(ssh_channel_get_session(from));
  if (fd == SSH_INVALID_SOCKET) return false;
  pollfd readable{fd, POLLIN, 0};
  return ::poll(&readable, 1, 0) > 0 && (readable.revents & POLLIN) != 0;
}

int write_channel(ssh_channel to, const char* data, std::size_t size, bool is_stderr) {
  auto length = static_cast<uint32_t>(size);
  return is_stderr ? ssh_channel_write_stderr(to, data, length)
                   : ssh_channel_write(to, data, length);
}

}  // namespace

Bridge::Bridge(ssh_channel client, ssh_channel upstream, ByteObservers& observers)
    : client_(client),
      upstream_(upstream),
      observers_(observers),
      to_client_out_(upstream, client, Stream::output),
      to_client_err_(upstream, client, Stream::error_output),
      to_upstream_(client, upstream, Stream::input) {
  ssh_callbacks_init(&callbacks_);
  callbacks_.userdata = this;
  callbacks_.channel_data_function = &Bridge::on_data;
  ssh_add_channel_callbacks(client_, &callbacks_);
  ssh_add_channel_callbacks(upstream_, &callbacks_);
}

int Bridge::on_data(ssh_session, ssh_channel, void*, uint32_t, int, void* userdata) {
  // Consume nothing: the bytes stay in libssh's channel buffer (bounded by the SSH
  // window) until transfer() reads them with the destination's window in mind.
  static_cast<Bridge*>(userdata)->data_arrived_ = true;
  return 0;
}

bool Bridge::move_all() {
  return move(to_client_out_, bytes_to_client_) && move(to_client_err_, bytes_to_client_) &&
         flush_injected() && (input_paused_ || move(to_upstream_, bytes_to_upstream_));
}

bool Bridge::inject_input(std::string_view keys) {
  if (injected_.size() + keys.size() > kMaxInjected) return false;
  injected_.append(keys);
  data_arrived_ = true;  // the session's next pass writes them
  return true;
}

// After what the client's keys left half written, so neither cuts into the other.
bool Bridge::flush_injected() {
  if (injected_.empty() || to_upstream_.pending_begin < to_upstream_.pending_end) return true;
  const std::size_t size =
      std::min<std::size_t>(ssh_channel_window_size(upstream_), injected_.size());
  if (size == 0) return true;
  const int written = write_channel(upstream_, injected_.data(), size, false);
  if (written < 0) return false;
  injected_.erase(0, static_cast<std::size_t>(written));
  bytes_to_upstream_ += static_cast<std::uint64_t>(written);
  return true;
}

bool Bridge::transfer() {
  if (!observers_.ready()) return true;
  // Bounded, so one busy session cannot hold the loop; more_pending() says to come back.
  constexpr int kMaxRounds = 8;
  for (int round = 0; round < kMaxRounds; ++round) {
    data_arrived_ = false;
    if (!move_all()) return false;
    if (!data_arrived_) break;
  }
  forward_eof();
  return true;
}

bool Bridge::flush_pending(Pipe& pipe, std::uint64_t& counter) {
  while (pipe.pending_begin < pipe.pending_end) {
    std::size_t window = ssh_channel_window_size(pipe.to);
    if (window == 0) return true;
    std::size_t size = std::min(window, pipe.pending_end - pipe.pending_begin);
    int written =
        write_channel(pipe.to, pipe.pending.get() + pipe.pending_begin, size, pipe.is_stderr);
    if (written < 0) return false;
    if (written == 0) return true;
    pipe.pending_begin += static_cast<std::size_t>(written);
    counter += static_cast<std::uint64_t>(written);
  }
  pipe.pending_begin = pipe.pending_end = 0;
  return true;
}

bool Bridge::move(Pipe& pipe, std::uint64_t& counter) {
  if (!flush_pending(pipe, counter)) return false;
  char* buffer = scratch();
  while (pipe.pending_end == 0 && !pipe.source_drained) {
    const std::size_t window = ssh_channel_window_size(pipe.to);
    const std::size_t carried = pipe.carry.size();
    if (window <= carried) break;
    // The held-back tail goes first, the new bytes after it.
    std::memcpy(buffer, pipe.carry.data(), carried);
    const auto want = static_cast<uint32_t>(std::min(window, kChunk) - carried);
    int got = ssh_channel_read_nonblocking(pipe.from, buffer + carried, want, pipe.is_stderr);
    if (got == SSH_EOF) {
      pipe.source_drained = true;
      break;
    }
    if (got < 0) return false;
    if (got == 0) break;
    observers_.bytes(pipe.stream,
                     std::string_view(buffer + carried, static_cast<std::size_t>(got)));
    const std::size_t total = carried + static_cast<std::size_t>(got);
    const std::size_t now = total > kPacketData ? total - total % kPacketData : total;
    pipe.carry.assign(buffer + now, total - now);
    if (!write_out(pipe, buffer, now, counter)) return false;
  }
  // The tail waits only while more of the stream is already here to join it (the session
  // pumps again while a socket is readable); otherwise, or behind a short write, it goes now.
  if (!pipe.carry.empty() &&
      (pipe.source_drained || pipe.pending_end != 0 || !more_coming(pipe.from))) {
    const std::string tail = std::exchange(pipe.carry, {});
    if (!write_out(pipe, tail.data(), tail.size(), counter)) return false;
  }
  return true;
}

// Writes what the window takes; the rest waits in `pending`, after what already waits there.
bool Bridge::write_out(Pipe& pipe, const char* data, std::size_t size, std::uint64_t& counter) {
  int written = 0;
  if (pipe.pending_end == 0 && size > 0) {
    written = write_channel(pipe.to, data, size, pipe.is_stderr);
    if (written < 0) return false;
    counter += static_cast<std::uint64_t>(written);
  }
  const std::size_t left = size - static_cast<std::size_t>(written);
  if (left == 0) return true;
  if (!pipe.pending) pipe.pending = std::make_unique<char[]>(kPendingBytes);
  std::memcpy(pipe.pending.get() + pipe.pending_end, data + written, left);
  pipe.pending_end += left;
  return true;
}

void Bridge::forward_eof() {
  bool upstream_output_done = to_client_out_.source_drained && to_client_err_.source_drained &&
                              to_client_out_.pending_end == 0 && to_client_err_.pending_end == 0 &&
                              to_client_out_.carry.empty() && to_client_err_.carry.empty();
  if (upstream_output_done && !eof_sent_to_client_ && ssh_channel_is_open(client_)) {
    ssh_channel_send_eof(client_);
    eof_sent_to_client_ = true;
  }
  if (to_upstream_.source_drained && to_upstream_.pending_end == 0 && to_upstream_.carry.empty() &&
      !eof_sent_to_upstream_ && ssh_channel_is_open(upstream_)) {
    ssh_channel_send_eof(upstream_);
    eof_sent_to_upstream_ = true;
  }
}

bool Bridge::upstream_done() const {
  return eof_sent_to_client_ || (to_client_out_.source_drained && to_client_err_.source_drained);
}

}  // namespace portcullis::proxy
