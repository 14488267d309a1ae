// Small local files of the agent's own (the record of the last push): never read or written
// through a symbolic link, replaced atomically.
#pragma once

#include <string>

namespace pgdeploy {

// Reads `path` whole, refusing a symbolic link. False with the reason in `err`, or with `err`
// empty when there is no such file.
bool read_own_file(const std::string& path, std::string* text, std::string* err);

// Replaces `path` with `text` (mode 0600): written to a new temporary file beside it (exclusive
// create, no symlink followed), then renamed over it, so a link planted at `path` is replaced, not
// followed, and a reader never sees half a file. False with the reason in `err`.
bool replace_own_file(const std::string& path, const std::string& text, std::string* err);

}  // namespace pgdeploy
