#include "proxy/audit_tail.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "access/access.h"
#include "access/json.h"

namespace portcullis::proxy {
namespace {

using namespace std::chrono_literals;

// How often the tail looks for new rows: the audit stream's delay.
constexpr auto kPassInterval = 1s;
// Rows per claim of the stream's position, and claims per pass: a backlog (a SIEM that was
// away, a first start after an upgrade) is worked off in steps, never all in memory at once.
constexpr std::size_t kStreamBatch = 200;
constexpr int kStreamBatchesPerPass = 10;
// The position moves only once the channels took the rows; meanwhile it stays locked, so the
// wait is bounded.
constexpr auto kStreamDrainTimeout = 5s;

}  // namespace

AuditTail::AuditTail(boost::asio::io_context& loop, const Config& config,
                     const recorder::SigningKey& key, alerts::Dispatcher& alerts)
    : key_(key),
      alerts_(alerts),
      node_(config.server.node_name),
      key_fingerprint_(key.fingerprint()),
      worker_(loop, config.database.url, "audit tail", kPassInterval) {}

void AuditTail::start() {
  worker_.start([this] { pass(); });
}

void AuditTail::stop() { worker_.stop(); }

void AuditTail::join() { worker_.join(); }

// The checkpoint first: a slow SIEM may hold a pass for a few seconds, never the signature.
void AuditTail::pass() {
  if (std::chrono::steady_clock::now() >= next_checkpoint_) {
    next_checkpoint_ = std::chrono::steady_clock::now() + access::kCheckpointInterval;
    checkpoint();
  }
  if (alerts_.streams_audit()) stream();
}

void AuditTail::checkpoint() {
  auto signer = [this](std::string_view message) {
    const recorder::Signature signature = key_.sign(message);
    return std::string(reinterpret_cast<const char*>(signature.data()), signature.size());
  };
  auto outcome = worker_.pool().transact_now([&](pqxx::work& tx) {
    return access::checkpoint_audit_head(tx, node_, key_fingerprint_, signer, signed_up_to_);
  });
  if (outcome.ok()) {
    if (*outcome.value) signed_up_to_ = (*outcome.value)->last_id;
  } else if (!outcome.database_unavailable) {
    spdlog::warn("cannot sign the audit log's head: {}; trying again in {} s", outcome.error,
                 access::kCheckpointInterval.count());
  }
}

// At least once: a row is handed to the channels once per run (handed_over_), and the shared
// position moves past it only when they took it, so a crash or a channel that is slow to
// take it makes a later pass (here or on another node) send it again. Receivers deduplicate on
// the row's id and hash.
void AuditTail::stream() {
  for (int batch = 0; batch < kStreamBatchesPerPass; ++batch) {
    auto outcome = worker_.pool().transact_now([&](pqxx::work& tx) {
      std::optional<std::vector<access::AuditEvent>> rows =
          access::claim_audit_stream(tx, kStreamBatch);
      if (!rows || rows->empty()) return false;  // nothing new, or another node streams
      for (const access::AuditEvent& row : *rows) {
        if (row.id <= handed_over_) continue;
        alerts_.stream_audit(access::audit_event_json(row));
        handed_over_ = row.id;
      }
      if (!alerts_.drain(kStreamDrainTimeout)) return false;
      access::advance_audit_stream(tx, rows->back().id);
      return rows->size() == kStreamBatch;  // a full batch: there may be more
    });
    if (!outcome.ok()) {
      if (!outcome.database_unavailable) {
        spdlog::warn("cannot stream the audit log: {}; trying again", outcome.error);
      }
      return;
    }
    if (!*outcome.value) return;
  }
}

}  // namespace portcullis::proxy
