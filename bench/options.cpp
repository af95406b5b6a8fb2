#include "bench/options.h"

#include <stdexcept>

namespace portcullis::bench {

FlagParser& FlagParser::number(const std::string& flag, int& target) {
  targets_[flag] = &target;
  return *this;
}

FlagParser& FlagParser::text(const std::string& flag, std::string& target) {
  targets_[flag] = &target;
  return *this;
}

void FlagParser::parse(int argc, char** argv) const {
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    const auto target = targets_.find(flag);
    if (target == targets_.end()) throw std::invalid_argument("unknown option " + flag);
    if (i + 1 >= argc) throw std::invalid_argument(flag + " needs a value");
    const std::string value = argv[i + 1];
    if (int* const* number = std::get_if<int*>(&target->second)) {
      **number = std::stoi(value);
    } else {
      *std::get<std::string*>(target->second) = value;
    }
  }
}

}  // namespace portcullis::bench
