// The blocking dial for work off the event loop (rotation); sessions dial asynchronously
// (proxy/upstream_dial.h).
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "targetssh/targetssh.h"

namespace portcullis::targetssh {
namespace {

struct AddrInfoDeleter {
  void operator()(addrinfo* info) const { freeaddrinfo(info); }
};

// Connects to one address, waiting at most `timeout`; an invalid fd when it does not accept.
UniqueFd connect_within(const addrinfo& address, std::chrono::milliseconds timeout) {
  UniqueFd socket(::socket(address.ai_family, address.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                           address.ai_protocol));
  if (!socket) return socket;
  if (::connect(socket.get(), address.ai_addr, address.ai_addrlen) != 0) {
    if (errno != EINPROGRESS) return UniqueFd();
    pollfd waiting{socket.get(), POLLOUT, 0};
    if (::poll(&waiting, 1, static_cast<int>(timeout.count())) != 1) return UniqueFd();
    int error = 0;
    socklen_t length = sizeof error;
    if (::getsockopt(socket.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0 || error != 0) {
      return UniqueFd();
    }
  }
  // libssh expects a blocking socket and bounds its own waits.
  const int flags = ::fcntl(socket.get(), F_GETFL);
  if (flags < 0 || ::fcntl(socket.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) return UniqueFd();
  return socket;
}

}  // namespace

UniqueFd dial(const access::Target& target, std::chrono::seconds timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* raw = nullptr;
  const int rc =
      ::getaddrinfo(target.host.c_str(), std::to_string(target.port).c_str(), &hints, &raw);
  const std::string where = target.host + ":" + std::to_string(target.port);
  if (rc != 0) throw LoginError("cannot resolve " + target.host + ": " + gai_strerror(rc));
  const std::unique_ptr<addrinfo, AddrInfoDeleter> addresses(raw);
  for (const addrinfo* address = addresses.get(); address != nullptr; address = address->ai_next) {
    UniqueFd socket = connect_within(*address, timeout);
    if (socket) return socket;
  }
  throw LoginError("cannot connect to target " + target.name + " at " + where +
                   ": no address accepted the connection");
}

}  // namespace portcullis::targetssh
