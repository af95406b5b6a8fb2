#include "cli/output.h"

#include <algorithm>

#include "common/common.h"

namespace portcullis::cli {

std::string time_cell(const std::optional<TimePoint>& t) { return t ? format_rfc3339(*t) : "-"; }

nlohmann::json time_json(const std::optional<TimePoint>& t) {
  return t ? nlohmann::json(format_rfc3339(*t)) : nlohmann::json();
}

// ASCII only: every control and non-ASCII character as a \u escape, so the exact text survives
// and nothing in it acts on a terminal that shows the JSON.
void print_json(std::ostream& out, const nlohmann::json& array) {
  out << array.dump(2, ' ', true, nlohmann::json::error_handler_t::replace) << '\n';
}

}  // namespace portcullis::cli
