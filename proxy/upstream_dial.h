// Reaching a target without holding a thread while it keeps us waiting. The name is resolved on
// an upstream thread (getaddrinfo blocks, and may take as long as DNS does); the TCP connect
// and the wait for the target's first bytes (its SSH identification line) run on the event
// loop. Only a target that has spoken is handed to an upstream thread for the libssh login
// (login_upstream), so a target that accepts TCP and never sends a byte costs one socket and
// one timer until the deadline, never a thread: logins to other targets do not queue behind it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <string>

#include "access/access.h"
#include "common/common.h"
#include "proxy/worker_pool.h"

namespace portcullis::proxy {

struct Dialled {
  UniqueFd socket;      // connected and blocking, with the target's first bytes waiting in it
  std::string failure;  // or why there is none, fit to show the user
};

// Calls `done` on the loop thread exactly once, by `deadline` at the latest.
void dial_target(boost::asio::io_context& loop, LoopWorkers& resolvers,
                 const access::Target& target, std::chrono::steady_clock::time_point deadline,
                 std::function<void(Dialled)> done);

}  // namespace portcullis::proxy
