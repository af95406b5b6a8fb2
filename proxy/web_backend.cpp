#include "proxy/web_backend.h"

#include <spdlog/spdlog.h>

#include "common/common.h"
#include "proxy/totp_secret.h"
#include "store/store.h"

namespace portcullis::proxy {
namespace {

web::CommandReply::Failure failure_of(ControlReply::Failure failure) {
  switch (failure) {
    case ControlReply::Failure::none:
      return web::CommandReply::Failure::none;
    case ControlReply::Failure::usage:
      return web::CommandReply::Failure::usage;
    case ControlReply::Failure::refused:
      return web::CommandReply::Failure::refused;
    case ControlReply::Failure::unavailable:
      return web::CommandReply::Failure::unavailable;
    case ControlReply::Failure::internal:
      break;
  }
  return web::CommandReply::Failure::internal;
}

// "portcullis: you may not ...\n" as one line without the prefix meant for a terminal.
std::string message_of(std::string err) {
  constexpr std::string_view kPrefix = "portcullis: ";
  if (err.starts_with(kPrefix)) err.erase(0, kPrefix.size());
  while (!err.empty() && err.back() == '\n') err.pop_back();
  return err;
}

}  // namespace

web::CommandReply WebBackend::run_command(const access::Actor& actor,
                                          const std::vector<std::string>& args,
                                          const std::string& client) {
  const std::shared_ptr<const RunningConfig> running = live_.current();
  const ServerConfig& server = running->config.server;
  const ControlEnvironment env{
      workers_,
      clock_,
      running->policy,
      running->config,
      server.public_address.empty() ? server.listen_host : server.public_address,
      server.public_port.value_or(server.listen_port),
      false,
      running,
      "",  // no sign-in links from a browser that is already signed in
      client};
  spdlog::info("web client={} user={} runs: {}", client, actor.user.name,
               inert_line(args.empty() ? std::string() : args.front()));
  // [[policy]] source applies to the browser's address as to an ssh client's.
  access::Actor acting = actor;
  acting.source = client;
  ControlReply reply = run_control_args(env, acting, args);
  for (const access::AlertEvent& alert : reply.alerts) raise_alert_(alert);
  return {failure_of(reply.failure), std::move(reply.out), message_of(std::move(reply.err))};
}

access::MfaVerdict WebBackend::check_totp(const std::string& user, const std::string& code,
                                          const std::string& client) {
  const access::MfaAttempt attempt{user, code, live_.current()->config.server.node_name, client};
  auto outcome = workers_.transact_now([&](pqxx::work& tx) {
    return access::check_totp_code(tx, attempt, clock_.now(), totp_secret_opener(vault_, user));
  });
  if (outcome.database_unavailable) throw store::DatabaseUnavailable(outcome.error);
  if (!outcome.ok()) throw std::runtime_error("TOTP check failed: " + outcome.error);
  if (outcome.value->alert) raise_alert_(*outcome.value->alert);
  return std::move(*outcome.value);
}

}  // namespace portcullis::proxy
