// Aligned text tables for people, shared by the CLI and the control commands over ssh.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace portcullis {

// Columns padded to their widest cell, separated by two spaces, header first.
class Table {
 public:
  explicit Table(std::vector<std::string> header);
  void add(std::vector<std::string> row);  // cells are shown with inert_line
  void print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace portcullis
