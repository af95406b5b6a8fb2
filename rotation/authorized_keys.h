// Editing an authorized_keys file's text for a key rotation: the new key added, the old one
// taken out, every other line (options, comments, blank lines) kept as it was. Pure: the
// file is read and written on the target by remote.h.
#pragma once

#include <string>
#include <string_view>

namespace portcullis::rotation {

// `text` with `key_line` ("type base64 comment") appended on a line of its own, unless the
// key is already there.
std::string with_key_added(std::string_view text, std::string_view key_line);

// `text` without the lines that authorize `key_line`'s key (the same type and base64, with or
// without options in front and whatever the comment).
std::string without_key(std::string_view text, std::string_view key_line);

// True when a line of `text` authorizes `key_line`'s key.
bool authorizes(std::string_view text, std::string_view key_line);

}  // namespace portcullis::rotation
