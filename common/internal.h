// Helpers shared by the files of the `common` library; not part of its public interface.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace portcullis::internal {

// The whole file as bytes. Throws std::system_error whose code says why (a folder is EISDIR).
std::string read_file(const std::filesystem::path& path);

// `text` if it names a log level this program accepts, else std::invalid_argument saying which.
std::string check_log_level(std::string_view text);

}  // namespace portcullis::internal
