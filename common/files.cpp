#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "common/common.h"
#include "common/internal.h"

namespace portcullis {
namespace {

namespace fs = std::filesystem;

// errno as an exception whose what() reads "WHAT: reason".
std::system_error os_error(const std::string& what) {
  return std::system_error(errno, std::generic_category(), what);
}

}  // namespace

void write_all(const UniqueFd& fd, std::string_view bytes, const fs::path& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd.get(), bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw os_error("cannot write " + path.string());
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void sync_directory(const fs::path& dir) {
  UniqueFd fd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd || ::fsync(fd.get()) != 0) throw os_error("cannot sync folder " + dir.string());
}

namespace internal {

std::string read_file(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat info {};
  if (!fd || ::fstat(fd.get(), &info) != 0) throw os_error("cannot read " + path.string());
  // A folder opens fine on Linux and only fails at read(); say so up front.
  if (S_ISDIR(info.st_mode)) {
    throw std::system_error(EISDIR, std::generic_category(), "cannot read " + path.string());
  }
  std::string contents;
  char buffer[16384];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw os_error("cannot read " + path.string());
    if (n == 0) return contents;
    contents.append(buffer, static_cast<std::size_t>(n));
  }
}

}  // namespace internal

void write_private_file(const fs::path& path, std::string_view contents) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) throw os_error("cannot create " + path.string());
  // Leave no half-written key behind: a later `portcullis init` must be able to start over.
  try {
    // The umask can only narrow the mode; set it exactly so the file is what we promise.
    if (::fchmod(fd.get(), 0600) != 0) throw os_error("cannot set the mode of " + path.string());
    write_all(fd, contents, path);
    if (::fsync(fd.get()) != 0) throw os_error("cannot write " + path.string());
    sync_directory(path.parent_path());
  } catch (...) {
    ::unlink(path.c_str());
    throw;
  }
}

}  // namespace portcullis
