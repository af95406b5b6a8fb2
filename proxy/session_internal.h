// Small helpers the session's files share; private to proxy/session*.cpp.
#pragma once

#include <libssh/libssh.h>

#include <nlohmann/json.hpp>
#include <string>

#include "access/access.h"
#include "metrics/metrics.h"
#include "proxy/journal.h"

namespace portcullis::proxy {

// Audit rows go through the journal: never a blocking call on the loop, and never lost to a
// database outage.
inline void audit_later(Journal& journal, const std::string& actor, const std::string& action,
                        const std::string& object, const nlohmann::json& details) {
  journal.submit(access::journal_audit(
      actor, action, object,
      details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
}

// The names access's reasons have in the metrics (session_metrics.cpp).
metrics::SessionEnd session_end_metric(access::EndReason reason);
metrics::Denial denial_metric(access::Denial::Kind kind);

// A session row's end: journaled (never a blocking call on the loop, never lost to an outage)
// and counted. Any thread.
void end_row_later(Journal& journal, metrics::Metrics& metrics, std::int64_t session_id,
                   access::EndReason reason, std::optional<int> exit_status, access::TimePoint at);

inline bool is_gone(ssh_session session) {
  return ssh_is_connected(session) == 0 ||
         (ssh_get_status(session) & (SSH_CLOSED | SSH_CLOSED_ERROR)) != 0 ||
         ssh_get_error_code(session) == SSH_FATAL;
}

}  // namespace portcullis::proxy
