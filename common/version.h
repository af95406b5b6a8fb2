// The version both programs print for --version: the project's version and the source it was
// built from.
#pragma once

#include <string_view>

namespace portcullis {

// "0.1.0 (v0.1.0-3-gc089368-dirty)": project() in CMakeLists.txt, then `git describe --always
// --dirty --tags` as of the last build, or "unknown" when built outside a git checkout.
std::string_view version();

}  // namespace portcullis
