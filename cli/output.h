// How the CLI prints records: aligned tables for people, JSON arrays for scripts.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace portcullis::cli {

// Columns padded to their widest cell, separated by two spaces, header first.
class Table {
 public:
  explicit Table(std::vector<std::string> header);
  void add(std::vector<std::string> row);  // cells are shown with inert_line
  void print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

using TimePoint = std::chrono::system_clock::time_point;

// RFC 3339 UTC for tables ("-" when absent) and JSON (null when absent).
std::string time_cell(const std::optional<TimePoint>& t);
nlohmann::json time_json(const std::optional<TimePoint>& t);

// Prints one JSON array, indented, newline-terminated.
void print_json(std::ostream& out, const nlohmann::json& array);

}  // namespace portcullis::cli
