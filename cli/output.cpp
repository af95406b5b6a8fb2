#include "cli/output.h"

#include <algorithm>

#include "common/common.h"

namespace portcullis::cli {

Table::Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }

void Table::add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }

void Table::print(std::ostream& out) const {
  std::vector<std::size_t> widths(rows_.front().size(), 0);
  for (const auto& row : rows_) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  for (const auto& row : rows_) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out << line << '\n';
  }
}

std::string time_cell(const std::optional<TimePoint>& t) { return t ? format_rfc3339(*t) : "-"; }

nlohmann::json time_json(const std::optional<TimePoint>& t) {
  return t ? nlohmann::json(format_rfc3339(*t)) : nlohmann::json();
}

void print_json(std::ostream& out, const nlohmann::json& array) { out << array.dump(2) << '\n'; }

}  // namespace portcullis::cli
