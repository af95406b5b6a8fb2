#include "web/console.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <thread>

#include "web/server.h"

namespace portcullis::web {
namespace {

namespace net = boost::asio;
namespace ssl = net::ssl;

// A key others can read is refused, as the SSH host key is: whoever reads it can pose as the
// console.
void check_key_file(const std::filesystem::path& key) {
  struct stat info {};
  if (::stat(key.c_str(), &info) != 0) {
    throw std::runtime_error("[web] tls_key " + key.string() +
                             " cannot be read; make one with `portcullis init` or name yours");
  }
  if ((info.st_mode & 077) != 0) {
    throw std::runtime_error("[web] tls_key " + key.string() +
                             " may be read by others; run chmod 600 on it");
  }
}

void load_tls(ssl::context& tls, const WebConfig& web) {
  tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                  ssl::context::single_dh_use);
  check_key_file(web.tls_key);
  boost::system::error_code ec;
  tls.use_certificate_chain_file(web.tls_cert.string(), ec);
  if (ec) {
    throw std::runtime_error("[web] tls_cert " + web.tls_cert.string() +
                             " is not a PEM certificate: " + ec.message());
  }
  tls.use_private_key_file(web.tls_key.string(), ssl::context::pem, ec);
  if (ec) {
    throw std::runtime_error("[web] tls_key " + web.tls_key.string() +
                             " is not the PEM private key of tls_cert: " + ec.message());
  }
}

}  // namespace

struct Console::Impl {
  Impl(const Config& config, Backend& backend, std::shared_ptr<identity::OidcClient> oidc)
      : web(config.web),
        api(config.server.node_name, config.database.url, backend, std::move(oidc)),
        io(std::make_unique<net::io_context>(1)),
        workers(static_cast<std::size_t>(config.web.threads)),
        context{*io, tls, workers, api, config.web.max_connections} {
    load_tls(tls, web);
  }

  WebConfig web;
  Api api;
  // Destroyed by stop(), before `context` and `workers`: the connections its pending handlers
  // hold refer to both on their way out.
  std::unique_ptr<net::io_context> io;
  ssl::context tls{ssl::context::tls_server};
  net::thread_pool workers;
  ServerContext context;
  std::thread thread;
};

Console::Console(const Config& config, Backend& backend, std::shared_ptr<identity::OidcClient> oidc)
    : impl_(std::make_unique<Impl>(config, backend, std::move(oidc))) {}

Console::~Console() { stop(); }

void Console::start() {
  const net::ip::tcp::endpoint endpoint(net::ip::make_address(impl_->web.listen_host),
                                        impl_->web.listen_port);
  try {
    start_listening(impl_->context, endpoint);
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("[web] listen " + impl_->web.listen + ": " + e.code().message());
  }
  impl_->thread = std::thread([this] {
    pthread_setname_np(pthread_self(), "web");
    for (;;) {
      try {
        impl_->io->run();
        return;
      } catch (const std::exception& e) {
        // One connection's failure must not end the console.
        spdlog::error("web: {}", e.what());
      }
    }
  });
  spdlog::info("web console listening on https://{}", impl_->web.listen);
}

void Console::stop() {
  if (!impl_ || !impl_->io) return;
  impl_->io->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->workers.join();
  // Closes every connection. A live view's leaving is then not recorded: its participant row
  // goes stale within access::kParticipantStale, as after a crash.
  impl_->io.reset();
}

std::string console_base_url(const WebConfig& web, const std::string& ssh_host) {
  if (web.listen.empty()) return "";
  if (!web.public_url.empty()) return web.public_url;
  const bool v6 = ssh_host.find(':') != std::string::npos;
  return "https://" + (v6 ? "[" + ssh_host + "]" : ssh_host) + ":" +
         std::to_string(web.listen_port);
}

}  // namespace portcullis::web
