// How the CLI prints records: aligned tables for people, JSON arrays for scripts.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "common/table.h"

namespace portcullis::cli {

using portcullis::Table;

using TimePoint = std::chrono::system_clock::time_point;

// RFC 3339 UTC for tables ("-" when absent) and JSON (null when absent).
std::string time_cell(const std::optional<TimePoint>& t);
nlohmann::json time_json(const std::optional<TimePoint>& t);

// Prints one JSON array, indented, newline-terminated.
void print_json(std::ostream& out, const nlohmann::json& array);

}  // namespace portcullis::cli
