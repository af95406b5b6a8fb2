// The command line of a benchmark: "--flag value" pairs, each flag setting a number or a text.
#pragma once

#include <map>
#include <string>
#include <variant>

namespace portcullis::bench {

class FlagParser {
 public:
  // `--flag N` sets `target` to N.
  FlagParser& number(const std::string& flag, int& target);
  // `--flag TEXT` sets `target` to TEXT.
  FlagParser& text(const std::string& flag, std::string& target);

  // Sets the targets named in argv[1..]. Throws std::invalid_argument for an unknown flag, a
  // flag without a value or a number that does not parse.
  void parse(int argc, char** argv) const;

 private:
  std::map<std::string, std::variant<int*, std::string*>> targets_;
};

}  // namespace portcullis::bench
