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
    : interval_(config.rotation.check_interval),
      rotator_(config.rotation, vault, config.server.node_name,
               "portcullisd:" + config.server.node_name),
      raise_alert_(std::move(raise_alert)),
      database_(config.database.url),
      pool_(loop, config.database.url, 1),
      timer_(loop) {}

void CredentialRotation::start() { schedule(); }

void CredentialRotation::stop() {
  stopping_ = true;
  timer_.cancel();
}

void CredentialRotation::join() { pool_.stop(); }

void CredentialRotation::schedule() {
  if (stopping_) return;
  timer_.expires_after(interval_);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopping_) return;
    pool_.blocking([this] { return pass(); },
                   [this](const Outcome<std::vector<rotation::Report>>& outcome) {
                     if (outcome.ok()) {
                       for (const rotation::Report& r : *outcome.value) report(r);
                     } else {
                       spdlog::warn("credential rotation: {}; trying again in {} s", outcome.error,
                                    interval_.count());
                     }
                     schedule();
                   });
  });
}

std::vector<rotation::Report> CredentialRotation::pass() {
  std::vector<rotation::Report> reports;
  while (reports.size() < kRotationsPerPass) {
    std::optional<rotation::Report> report = rotator_.rotate_next_due(database_);
    if (!report) break;
    reports.push_back(std::move(*report));
  }
  return reports;
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
