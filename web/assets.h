// The console's static files (web/ui), built into the daemon (web/embed_assets.cmake).
#pragma once

#include <string_view>

namespace portcullis::web {

struct Asset {
  std::string_view content_type;
  std::string_view bytes;
};

// The file served as /assets/NAME ("index.html" for the pages), or nullptr.
const Asset* find_asset(std::string_view name);

}  // namespace portcullis::web
