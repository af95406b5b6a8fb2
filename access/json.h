// JSON for the access library's objects: one encoder per object, shared by the CLI
// (`portcullis grant list --json`) and the control commands (`ssh USER@BASTION grants --json`),
// so both print the same fields for the same grant. The schemas are in docs/json.md.
#pragma once

#include <nlohmann/json.hpp>

#include "access/access.h"

namespace portcullis::access {

// Every key is always present; what a grant does not have yet (a window while pending) or
// never had (a revocation) is null.
nlohmann::json grant_json(const Grant& grant);

}  // namespace portcullis::access
