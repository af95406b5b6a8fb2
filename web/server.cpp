#include "web/server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <charconv>
#include <deque>
#include <nlohmann/json.hpp>

#include "common/common.h"
#include "store/store.h"
#include "web/live_view.h"

namespace portcullis::web {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

constexpr std::size_t kHeaderLimit = std::size_t{16} * 1024;
constexpr std::size_t kBodyLimit = std::size_t{64} * 1024;
constexpr auto kHandshakeTime = std::chrono::seconds(10);
constexpr auto kIdleTime = std::chrono::seconds(60);
constexpr auto kWriteTime = std::chrono::seconds(30);
constexpr auto kLiveTick = std::chrono::milliseconds(200);
// A live view's browser sends only its CSRF token.
constexpr std::size_t kLiveMessageLimit = 4096;

// Sent with every answer: no framing, no sniffing, no referrer, HTTPS only, and no script or
// style from anywhere but this daemon (so text that slipped into a page could not run).
// 'wasm-unsafe-eval' lets asciinema-player compile its WebAssembly terminal; it allows no
// eval() of JavaScript.
void secure(http::response<http::string_body>& response) {
  response.set("Content-Security-Policy",
               "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
               "img-src 'self' data:; "
               "connect-src 'self'; font-src 'self'; object-src 'none'; frame-ancestors 'none'; "
               "base-uri 'none'; form-action 'self'");
  response.set("X-Content-Type-Options", "nosniff");
  response.set("X-Frame-Options", "DENY");
  response.set("Referrer-Policy", "no-referrer");
  response.set(http::field::strict_transport_security, "max-age=31536000");
  response.set(http::field::cache_control, "no-store");
  response.set(http::field::server, "portcullis");
}

// Beast 1.74 has a string_view of its own.
std::string_view as_std(beast::string_view text) { return {text.data(), text.size()}; }

std::string cookie_value(std::string_view header, std::string_view name) {
  std::size_t start = 0;
  while (start < header.size()) {
    while (start < header.size() && (header[start] == ' ' || header[start] == ';')) ++start;
    const std::size_t end = std::min(header.find(';', start), header.size());
    const std::string_view pair = header.substr(start, end - start);
    const std::size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
      return std::string(pair.substr(eq + 1));
    }
    start = end + 1;
  }
  return "";
}

HttpRequest plain_request(const http::request<http::string_body>& request,
                          const std::string& client) {
  HttpRequest plain;
  plain.method = std::string(request.method_string());
  const std::string_view target = as_std(request.target());
  const std::size_t question = target.find('?');
  plain.path = std::string(target.substr(0, question));
  if (question != std::string_view::npos) plain.query = std::string(target.substr(question + 1));
  plain.body = request.body();
  plain.cookie = cookie_value(as_std(request[http::field::cookie]), kSessionCookie);
  plain.sso_cookie = cookie_value(as_std(request[http::field::cookie]), kSsoCookie);
  plain.host = std::string(as_std(request[http::field::host]));
  plain.csrf = std::string(request["X-CSRF-Token"]);
  plain.content_type = std::string(request[http::field::content_type]);
  plain.client = client;
  return plain;
}

// The page that opened a WebSocket must be ours: a browser sends its origin, and the cookie
// alone would let any site a signed-in auditor visits watch sessions through them.
bool same_origin(const http::request<http::string_body>& request) {
  const std::string_view origin = as_std(request[http::field::origin]);
  const std::string_view host = as_std(request[http::field::host]);
  return !host.empty() && origin == "https://" + std::string(host);
}

// The session id of "/api/v1/sessions/ID/live", or 0.
std::int64_t live_session_id(std::string_view path) {
  constexpr std::string_view kPrefix = "/api/v1/sessions/";
  constexpr std::string_view kSuffix = "/live";
  if (!path.starts_with(kPrefix) || !path.ends_with(kSuffix)) return 0;
  const std::string_view digits =
      path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size());
  std::int64_t id = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
  return error == std::errc() && end == digits.data() + digits.size() && id > 0 ? id : 0;
}

// Holds one of the console's connection places for as long as it lives.
class ConnectionSlot {
 public:
  explicit ConnectionSlot(ServerContext& context) : context_(context) { ++context_.connections; }
  ~ConnectionSlot() { --context_.connections; }
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;

 private:
  ServerContext& context_;
};

// A browser watching a session over a WebSocket. Every look at the database runs on a worker,
// one at a time; a browser that reads slowly misses frames, it never holds one back.
class LiveConnection : public std::enable_shared_from_this<LiveConnection> {
 public:
  LiveConnection(ServerContext& context, TlsStream stream, std::unique_ptr<LiveView> view,
                 std::string client)
      : context_(context),
        slot_(context),
        socket_(std::move(stream)),
        view_(std::move(view)),
        client_(std::move(client)),
        timer_(context.io) {}

  ~LiveConnection() {
    // Leaving is audited and told to the watched user, even when the browser just vanished.
    if (view_) {
      net::post(context_.workers,
                [view = std::shared_ptr<LiveView>(std::move(view_)), &api = context_.api] {
                  try {
                    api.database().transact([&](pqxx::work& tx) { view->leave(tx); });
                  } catch (const std::exception& e) {
                    spdlog::warn("web: could not record the end of a live view: {}", e.what());
                  }
                });
    }
  }

  void accept(const http::request<http::string_body>& request) {
    socket_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    socket_.read_message_max(kLiveMessageLimit);
    socket_.set_option(websocket::stream_base::decorator([](websocket::response_type& response) {
      response.set(http::field::server, "portcullis");
    }));
    socket_.async_accept(request, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return;
      self->read();
    });
  }

 private:
  void read() {
    socket_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->stop();
      self->on_message(beast::buffers_to_string(self->buffer_.data()));
      self->buffer_.consume(self->buffer_.size());
      self->read();
    });
  }

  void on_message(const std::string& text) {
    if (authenticated_) return;  // nothing else is expected; ignored
    const nlohmann::json message = nlohmann::json::parse(text, nullptr, false);
    const auto csrf = message.is_object() ? message.find("csrf") : message.end();
    if (csrf == message.end() || !csrf->is_string() || csrf->get<std::string>() != view_->csrf()) {
      return close(websocket::close_code::policy_error, "send {\"csrf\": TOKEN} first");
    }
    authenticated_ = true;
    look();
  }

  void look() {
    if (stopped_) return;
    auto view = view_.get();
    net::post(context_.workers, [self = shared_from_this(), view] {
      LiveView::Tick tick;
      try {
        tick = self->context_.api.database().transact(
            [&](pqxx::work& tx) { return view->tick(tx, std::chrono::steady_clock::now()); });
      } catch (const store::DatabaseUnavailable&) {
        tick.messages.push_back(R"({"type":"status","text":"the database is unreachable"})");
      } catch (const std::exception& e) {
        spdlog::warn("web client={} live view: {}", self->client_, e.what());
        tick.messages.push_back(R"({"type":"end","text":"the live view failed on the bastion"})");
        tick.done = true;
      }
      net::post(self->context_.io,
                [self, tick = std::move(tick)]() mutable { self->on_tick(std::move(tick)); });
    });
  }

  void on_tick(LiveView::Tick tick) {
    if (stopped_) return;
    for (std::string& message : tick.messages) {
      // Only the newest screen matters to a viewer that is behind.
      if (outbox_.size() >= 4) outbox_.pop_front();
      outbox_.push_back(std::move(message));
    }
    done_ = tick.done;
    write();
    if (done_) return;
    timer_.expires_after(kLiveTick);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->look();
    });
  }

  void write() {
    if (writing_ || stopped_) return;
    if (outbox_.empty()) {
      if (done_) close(websocket::close_code::normal, "session ended");
      return;
    }
    writing_ = true;
    socket_.text(true);
    socket_.async_write(net::buffer(outbox_.front()),
                        [self = shared_from_this()](beast::error_code ec, std::size_t) {
                          self->writing_ = false;
                          if (ec) return self->stop();
                          self->outbox_.pop_front();
                          self->write();
                        });
  }

  void close(websocket::close_code code, const char* reason) {
    if (stopped_) return;
    stopped_ = true;
    timer_.cancel();
    socket_.async_close(websocket::close_reason(code, reason),
                        [self = shared_from_this()](beast::error_code) {});
  }

  void stop() {
    stopped_ = true;
    timer_.cancel();
  }

  ServerContext& context_;
  ConnectionSlot slot_;
  websocket::stream<TlsStream> socket_;
  std::unique_ptr<LiveView> view_;
  std::string client_;
  net::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::deque<std::string> outbox_;
  bool authenticated_ = false;
  bool writing_ = false;
  bool done_ = false;
  bool stopped_ = false;
};

class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
 public:
  HttpConnection(ServerContext& context, tcp::socket socket)
      : context_(context), slot_(context), stream_(std::move(socket), context.tls) {
    beast::error_code ec;
    const tcp::endpoint peer = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    client_ = ec ? "unknown" : peer.address().to_string();
  }

  void start() {
    beast::get_lowest_layer(stream_).expires_after(kHandshakeTime);
    stream_.async_handshake(ssl::stream_base::server,
                            [self = shared_from_this()](beast::error_code ec) {
                              if (!ec) self->read();
                            });
  }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(kBodyLimit);
    beast::get_lowest_layer(stream_).expires_after(kIdleTime);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::body_limit || ec == http::error::header_limit) {
      HttpReply reply;
      reply.status = ec == http::error::body_limit ? 413 : 431;
      reply.body = R"({"error":"the request is too large"})";
      return respond(std::move(reply), false, 11);
    }
    if (ec) return shutdown();
    http::request<http::string_body> request = parser_->release();
    if (websocket::is_upgrade(request)) return upgrade(std::move(request));
    const bool keep_alive = request.keep_alive();
    const unsigned version = request.version();
    net::post(context_.workers, [self = shared_from_this(), plain = plain_request(request, client_),
                                 keep_alive, version] {
      HttpReply reply = self->context_.api.handle(plain);
      if (plain.method == "HEAD") reply.body.clear();
      net::post(self->context_.io, [self, reply = std::move(reply), keep_alive, version]() mutable {
        self->respond(std::move(reply), keep_alive, version);
      });
    });
  }

  void upgrade(http::request<http::string_body> request) {
    const std::int64_t session_id = live_session_id(as_std(request.target()));
    if (session_id == 0) {
      return respond({404, "application/json", R"({"error":"no WebSocket here"})", {}}, false, 11);
    }
    if (!same_origin(request)) {
      return respond({403, "application/json", R"({"error":"cross-origin live view refused"})", {}},
                     false, 11);
    }
    net::post(context_.workers, [self = shared_from_this(), request = std::move(request),
                                 session_id]() mutable {
      const HttpRequest plain = plain_request(request, self->client_);
      std::variant<LiveGrant, HttpReply> allowed = self->context_.api.authorize_live(plain);
      std::unique_ptr<LiveView> view;
      if (LiveGrant* grant = std::get_if<LiveGrant>(&allowed)) {
        try {
          view = self->context_.api.database().transact([&](pqxx::work& tx) {
            return std::make_unique<LiveView>(tx, *grant, session_id, self->context_.api.node());
          });
        } catch (const access::AccessError& e) {
          allowed = HttpReply{404,
                              "application/json",
                              nlohmann::json({{"error", inert_line(e.what())}}).dump(),
                              {}};
        } catch (const std::exception& e) {
          spdlog::warn("web client={} live view of session {}: {}", self->client_, session_id,
                       e.what());
          allowed = HttpReply{503,
                              "application/json",
                              R"({"error":"cannot open the live view now; try again"})",
                              {}};
        }
      }
      net::post(
          self->context_.io, [self, request = std::move(request), allowed = std::move(allowed),
                              view = std::move(view)]() mutable {
            if (HttpReply* refusal = std::get_if<HttpReply>(&allowed)) {
              return self->respond(std::move(*refusal), false, 11);
            }
            spdlog::info("web client={} user={} watches session {}", self->client_,
                         std::get<LiveGrant>(allowed).session.user.name, as_std(request.target()));
            beast::get_lowest_layer(self->stream_).expires_never();
            std::make_shared<LiveConnection>(self->context_, std::move(self->stream_),
                                             std::move(view), self->client_)
                ->accept(request);
          });
    });
  }

  void respond(HttpReply reply, bool keep_alive, unsigned version) {
    response_ = {};
    response_.version(version);
    response_.result(reply.status);
    response_.set(http::field::content_type, reply.content_type);
    for (const auto& [name, value] : reply.headers) response_.insert(name, value);
    secure(response_);
    response_.body() = std::move(reply.body);
    response_.keep_alive(keep_alive);
    response_.prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(kWriteTime);
    http::async_write(stream_, response_,
                      [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
                        if (ec) return;
                        if (!keep_alive) return self->shutdown();
                        self->read();
                      });
  }

  void shutdown() {
    beast::get_lowest_layer(stream_).expires_after(kHandshakeTime);
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) {});
  }

  ServerContext& context_;
  ConnectionSlot slot_;
  TlsStream stream_;
  std::string client_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(ServerContext& context, const tcp::endpoint& endpoint)
      : context_(context), acceptor_(context.io) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(net::socket_base::max_listen_connections);
  }

  void accept() {
    acceptor_.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted) return;
      if (ec) {
        // Out of descriptors, say: try again shortly instead of spinning on the error.
        spdlog::warn("web: accept failed: {}", ec.message());
        self->retry_.expires_after(std::chrono::milliseconds(100));
        return self->retry_.async_wait([self](beast::error_code wait) {
          if (!wait) self->accept();
        });
      } else if (self->context_.connections.load() >= self->context_.max_connections) {
        // Full: closed at once rather than queued, so a flood costs nothing but the accept.
        beast::error_code ignored;
        socket.close(ignored);
      } else {
        std::make_shared<HttpConnection>(self->context_, std::move(socket))->start();
      }
      self->accept();
    });
  }

 private:
  ServerContext& context_;
  tcp::acceptor acceptor_;
  net::steady_timer retry_{context_.io};
};

}  // namespace

void start_listening(ServerContext& context, const tcp::endpoint& endpoint) {
  std::make_shared<Listener>(context, endpoint)->accept();
}

}  // namespace portcullis::web
