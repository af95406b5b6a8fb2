#include "proxy/bridge.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>

namespace portcullis::proxy {
namespace {

// Larger than OpenSSH's 32 KiB maximum packet, so one read drains a packet or more.
constexpr std::size_t kChunk = std::size_t{64} * 1024;

// All bridges of a loop thread share one read buffer; bytes only stay in a bridge
// when a write comes up short. On the heap, not in thread-local storage itself: static TLS is
// carved out of every thread's stack, and 64 KiB of it left the HTTP server's workers (whose
// stacks are 100 KiB) too little to answer a /metrics scrape.
char* scratch() {
  thread_local const std::unique_ptr<std::array<char, kChunk>> buffer =
      std::make_unique<std::array<char, kChunk>>();
  return buffer->data();
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
  while (pipe.pending_end == 0 && !pipe.source_drained) {
    std::size_t window = ssh_channel_window_size(pipe.to);
    if (window == 0) break;
    auto want = static_cast<uint32_t>(std::min(window, kChunk));
    char* buffer = scratch();
    int got = ssh_channel_read_nonblocking(pipe.from, buffer, want, pipe.is_stderr);
    if (got == SSH_EOF) {
      pipe.source_drained = true;
      break;
    }
    if (got < 0) return false;
    if (got == 0) break;
    observers_.bytes(pipe.stream, std::string_view(buffer, static_cast<std::size_t>(got)));
    int written = write_channel(pipe.to, buffer, static_cast<std::size_t>(got), pipe.is_stderr);
    if (written < 0) return false;
    counter += static_cast<std::uint64_t>(written);
    if (written < got) {
      if (!pipe.pending) pipe.pending = std::make_unique<char[]>(kChunk);
      pipe.pending_end = static_cast<std::size_t>(got - written);
      std::memcpy(pipe.pending.get(), buffer + written, pipe.pending_end);
    }
  }
  return true;
}

void Bridge::forward_eof() {
  bool upstream_output_done = to_client_out_.source_drained && to_client_err_.source_drained &&
                              to_client_out_.pending_end == 0 && to_client_err_.pending_end == 0;
  if (upstream_output_done && !eof_sent_to_client_ && ssh_channel_is_open(client_)) {
    ssh_channel_send_eof(client_);
    eof_sent_to_client_ = true;
  }
  if (to_upstream_.source_drained && to_upstream_.pending_end == 0 && !eof_sent_to_upstream_ &&
      ssh_channel_is_open(upstream_)) {
    ssh_channel_send_eof(upstream_);
    eof_sent_to_upstream_ = true;
  }
}

bool Bridge::upstream_done() const {
  return eof_sent_to_client_ || (to_client_out_.source_drained && to_client_err_.source_drained);
}

}  // namespace portcullis::proxy
