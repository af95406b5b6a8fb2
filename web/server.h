// The console's connections: TLS, HTTP/1.1 and the live view's WebSocket, on one io_context
// thread; every request's database work goes to the worker pool and its answer comes back to
// the connection. Bounded everywhere: connections, header and body sizes, idle time.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <memory>
#include <string>

#include "web/api.h"

namespace portcullis::web {

struct ServerContext {
  boost::asio::io_context& io;
  boost::asio::ssl::context& tls;
  boost::asio::thread_pool& workers;
  Api& api;
  int max_connections = 512;
  std::atomic<int> connections{0};
};

// Accepts on `endpoint` until the io_context stops. Throws boost::system::system_error when it
// cannot listen.
void start_listening(ServerContext& context, const boost::asio::ip::tcp::endpoint& endpoint);

}  // namespace portcullis::web
