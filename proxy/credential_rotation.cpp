#include "proxy/credential_rotation.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

namespace portcullis::proxy {
namespace {

// Accounts rotated in one pass at most, so a long backlog still lets shutdown in between.
constexpr int kRotationsPerPass = 10;

}  // namespace

CredentialRotation::CredentialRotation(boost::asio::io_context& loop, const Config& config,
                                       const vault::Vault& vault, RaiseAlert raise_alert)
    : rotator_(config.rotation, vault, config.server.node_name,
               "portcullisd:" + config.server.node_name),
      raise_alert_(std::move(raise_alert)),
      database_(config.database.url),
      worker_(loop, config.database.url, "credential rotation", config.rotation.check_interval) {}

void CredentialRotation::start() {
  worker_.start([this] { pass(); });
}

void CredentialRotation::stop() { worker_.stop(); }

void CredentialRotation::join() { worker_.join(); }

void CredentialRotation::pass() {
  for (int i = 0; i < kRotationsPerPass; ++i) {
    std::optional<rotation::Report> rotated = rotator_.rotate_next_due(database_);
    if (!rotated) return;
    report(*rotated);
  }
}

void CredentialRotation::report(const rotation::Report& report) {
  const std::string kind = access::to_string(report.kind);
  if (report.rotated) {
    spdlog::info("rotated the {} of {}@{}: {}", kind, report.login, report.target, report.summary);
    return;
  }
  spdlog::warn("rotation of the {} of {}@{} failed (attempt {}): {}", kind, report.login,
               report.target, report.failures, report.summary);
  if (!report.alert) return;
  raise_alert_(access::AlertEvent{"rotation_failed", nlohmann::json{{"target", report.target},
                                                                    {"login", report.login},
                                                                    {"kind", kind},
                                                                    {"failures", report.failures},
                                                                    {"error", report.summary}}
                                                         .dump()});
}

}  // namespace portcullis::proxy
