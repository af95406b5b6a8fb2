// Process hardening shared by the daemon and the CLI commands that hold a secret key.
#include <sys/prctl.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "common/common.h"

namespace portcullis {

void disable_core_dumps() {
  // A core file (or a ptrace attach by another process of the same user) would copy the vault
  // key, the signing key and every unsealed credential out of memory.
  const rlimit none{0, 0};
  if (::setrlimit(RLIMIT_CORE, &none) != 0) {
    throw std::system_error(errno, std::generic_category(), "cannot disable core dumps");
  }
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    throw std::system_error(errno, std::generic_category(), "cannot mark the process undumpable");
  }
}

}  // namespace portcullis
