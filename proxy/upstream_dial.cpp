#include "proxy/upstream_dial.h"

#include <fcntl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstring>
#include <memory>
#include <vector>

#include "targetssh/targetssh.h"

namespace portcullis::proxy {
namespace {

using boost::asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// Blocking: on an upstream thread. The addresses as Asio endpoints.
std::vector<tcp::endpoint> resolve(const std::string& host, std::uint16_t port) {
  std::vector<tcp::endpoint> endpoints;
  for (const targetssh::Address& address : targetssh::resolve(host, port)) {
    tcp::endpoint endpoint;
    std::memcpy(endpoint.data(), &address.storage, address.length);
    endpoint.resize(address.length);
    endpoints.push_back(endpoint);
  }
  return endpoints;
}

// One attempt: connect to the first address that accepts, then wait until the target speaks.
// Whichever comes first, that or the deadline, settles it; the loser's handler finds it settled.
class Dial : public std::enable_shared_from_this<Dial> {
 public:
  Dial(boost::asio::io_context& loop, const access::Target& target, Clock::time_point deadline,
       std::function<void(Dialled)> done)
      : socket_(loop),
        timer_(loop),
        where_(target.host + ":" + std::to_string(target.port)),
        name_(target.name),
        deadline_(deadline),
        done_(std::move(done)) {}

  // From the start: a name that takes longer to resolve than the deadline allows ends it too.
  void arm() {
    timer_.expires_at(deadline_);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return;
      self->settle(self->connected_
                       ? "target " + self->name_ + " (" + self->where_ +
                             ") accepted the connection but did not answer in time"
                       : "cannot connect to " + self->where_ + ": connection timed out");
    });
  }

  void start(const std::vector<tcp::endpoint>& endpoints) {
    if (settled_) return;
    boost::asio::async_connect(
        socket_, endpoints,
        [self = shared_from_this()](boost::system::error_code ec, const tcp::endpoint&) {
          if (ec) return self->settle("cannot connect to " + self->where_ + ": " + ec.message());
          self->connected_ = true;
          self->socket_.async_wait(tcp::socket::wait_read, [self](boost::system::error_code ec) {
            if (ec) return self->settle("cannot connect to " + self->where_ + ": " + ec.message());
            self->succeed();
          });
        });
  }

  void settle(const std::string& failure) {
    if (std::exchange(settled_, true)) return;
    timer_.cancel();
    boost::system::error_code ignored;
    socket_.close(ignored);
    done_(Dialled{UniqueFd(), failure});
  }

 private:
  void succeed() {
    if (std::exchange(settled_, true)) return;
    timer_.cancel();
    boost::system::error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);  // keystrokes
    UniqueFd fd(socket_.release(ignored));
    // libssh reads and writes it blocking, with its own timeout.
    ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
    done_(Dialled{std::move(fd), ""});
  }

  tcp::socket socket_;
  boost::asio::steady_timer timer_;
  const std::string where_;
  const std::string name_;
  const Clock::time_point deadline_;
  std::function<void(Dialled)> done_;
  bool connected_ = false;
  bool settled_ = false;
};

}  // namespace

void dial_target(boost::asio::io_context& loop, LoopWorkers& resolvers,
                 const access::Target& target, Clock::time_point deadline,
                 std::function<void(Dialled)> done) {
  auto dial = std::make_shared<Dial>(loop, target, deadline, std::move(done));
  dial->arm();
  resolvers.blocking([host = target.host, port = target.port] { return resolve(host, port); },
                     [dial](Outcome<std::vector<tcp::endpoint>> resolved) {
                       if (!resolved.ok()) return dial->settle(resolved.error);
                       dial->start(*resolved.value);
                     });
}

}  // namespace portcullis::proxy
