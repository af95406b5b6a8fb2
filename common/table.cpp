#include "common/table.h"

#include <algorithm>

#include "common/common.h"

namespace portcullis {

Table::Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }

// Every cell may hold text someone else wrote (a reason, an audit detail): neutralised here,
// once, so no table can carry a terminal escape to the reader.
void Table::add(std::vector<std::string> row) {
  for (std::string& cell : row) cell = inert_line(cell);
  rows_.push_back(std::move(row));
}

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

}  // namespace portcullis
