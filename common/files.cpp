#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/common.h"

namespace portcullis {

void write_private_file(const std::filesystem::path& path, std::string_view contents) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw std::runtime_error("cannot create " + path.string() + ": " + std::strerror(errno));
  }
  std::size_t written = 0;
  while (written < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int saved = errno;
      ::close(fd);
      ::unlink(path.c_str());
      throw std::runtime_error("cannot write " + path.string() + ": " + std::strerror(saved));
    }
    written += static_cast<std::size_t>(n);
  }
  int synced = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  if (synced != 0) {
    ::unlink(path.c_str());
    throw std::runtime_error("cannot write " + path.string() + ": " + std::strerror(saved));
  }
}

}  // namespace portcullis
