// JSON for the access library's objects: one encoder per object, shared by the CLI
// (`portcullis grant list --json`), the control commands (`ssh USER@BASTION grants --json`) and
// the audit stream, so each prints the same fields for the same thing. The schemas are in
// docs/json.md.
#pragma once

#include <nlohmann/json.hpp>

#include "access/access.h"
#include "common/table.h"

namespace portcullis::access {

// Every key is always present; what a grant does not have yet (a window while pending) or
// never had (a revocation) is null.
nlohmann::json grant_json(const Grant& grant);

// One session as `portcullis session list --json` and `ssh USER@BASTION sessions --json` print
// it. `state` is "running", "ending" (its end waits in a node's journal) or "ended"; the
// certificate it logged in with is an object, or null.
nlohmann::json session_json(const SessionRow& session, const std::string& state);
// The same sessions as a table for people, the columns `portcullis session list` prints.
Table session_table();
void add_session_row(Table& table, const SessionRow& session, const std::string& state);

// One audit row as `portcullis audit list --json` prints it and the audit stream sends it,
// with its chain hash in hex.
nlohmann::json audit_event_json(const AuditEvent& event);

}  // namespace portcullis::access
