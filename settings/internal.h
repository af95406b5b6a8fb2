// Internal to the settings library: checks shared by its tables.
#pragma once

#include <string_view>

#include "common/common.h"

namespace portcullis {

// "IP:PORT" for a socket the daemon binds: an address, never a host name (which would need
// resolving, and may resolve somewhere public). Throws std::invalid_argument saying why.
HostPort check_listen_address(std::string_view text);

}  // namespace portcullis
