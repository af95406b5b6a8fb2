#include <spdlog/spdlog.h>

#include <atomic>

#include "store/store.h"

namespace portcullis::store {

struct Listener::State {
  std::string url;
  std::vector<std::string> channels;
  Notify on_notify;
  std::function<void()> on_reconnect;
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> failures{0};
};

namespace {

class Receiver : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& conn, const std::string& channel, const Listener::Notify& notify)
      : pqxx::notification_receiver(conn, channel), notify_(notify) {}
  void operator()(const std::string& payload, int) override { notify_(channel(), payload); }

 private:
  const Listener::Notify& notify_;
};

// Listens until the connection breaks or the listener stops.
void listen_once(Database& database, Listener::State& state, bool reconnected) {
  pqxx::connection& conn = database.connection();
  std::vector<std::unique_ptr<Receiver>> receivers;
  for (const std::string& channel : state.channels) {
    receivers.push_back(std::make_unique<Receiver>(conn, channel, state.on_notify));
  }
  // The LISTENs are issued lazily by libpqxx; this round trip makes sure they are in place.
  conn.get_notifs();
  if (reconnected) state.on_reconnect();
  while (!state.stopping) conn.await_notification(1, 0);
}

void run(const std::shared_ptr<Listener::State>& state) {
  Database database(state->url);
  bool reconnected = false;
  while (!state->stopping) {
    try {
      listen_once(database, *state, reconnected);
    } catch (const std::exception& e) {
      state->failures.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("notification listener: {}; retrying in 1s", e.what());
      database.reset();
      reconnected = true;
      for (int i = 0; i < 10 && !state->stopping; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  }
}

}  // namespace

Listener::Listener(std::string url, std::vector<std::string> channels, Notify on_notify,
                   std::function<void()> on_reconnect)
    : state_(std::make_shared<State>()) {
  state_->url = std::move(url);
  state_->channels = std::move(channels);
  state_->on_notify = std::move(on_notify);
  state_->on_reconnect = std::move(on_reconnect);
  thread_ = std::thread([state = state_] { run(state); });
}

std::uint64_t Listener::failures() const {
  return state_->failures.load(std::memory_order_relaxed);
}

Listener::~Listener() {
  state_->stopping = true;
  if (thread_.joinable()) thread_.join();
}

}  // namespace portcullis::store
