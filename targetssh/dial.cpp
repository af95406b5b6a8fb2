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
UniqueFd connect_within(const Address& address, std::chrono::milliseconds timeout) {
  UniqueFd socket(
      ::socket(address.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!socket) return socket;
  if (::connect(socket.get(), reinterpret_cast<const sockaddr*>(&address.storage),
                address.length) != 0) {
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

std::vector<Address> resolve(const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* raw = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &raw);
  if (rc != 0) throw LoginError("cannot resolve " + host + ": " + gai_strerror(rc));
  const std::unique_ptr<addrinfo, AddrInfoDeleter> addresses(raw);
  std::vector<Address> resolved;
  for (const addrinfo* a = addresses.get(); a != nullptr; a = a->ai_next) {
    if (a->ai_addrlen > sizeof(sockaddr_storage)) continue;
    Address address;
    std::memcpy(&address.storage, a->ai_addr, a->ai_addrlen);
    address.length = a->ai_addrlen;
    resolved.push_back(address);
  }
  if (resolved.empty()) throw LoginError("cannot resolve " + host + ": no address");
  return resolved;
}

UniqueFd dial(const access::Target& target, std::chrono::seconds timeout) {
  for (const Address& address : resolve(target.host, target.port)) {
    UniqueFd socket = connect_within(address, timeout);
    if (socket) return socket;
  }
  throw LoginError("cannot connect to target " + target.name + " at " + target.host + ":" +
                   std::to_string(target.port) + ": no address accepted the connection");
}

}  // namespace portcullis::targetssh
