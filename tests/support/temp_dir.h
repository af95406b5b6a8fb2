// A fresh private folder for one test, removed with everything in it when the test ends.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace portcullis::test {

// A new folder under $TMPDIR named PREFIX-XXXXXX, removed with everything in it at the end of
// the scope, unless PORTCULLIS_KEEP_TEST_DIRS=1 (then its path is printed so it can be
// inspected).
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "portcullis-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

  // Writes `contents` to `name` inside the folder (creating subfolders) and returns its path.
  std::filesystem::path write(const std::string& name, std::string_view contents) const;

 private:
  std::filesystem::path path_;
};

}  // namespace portcullis::test
