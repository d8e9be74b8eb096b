// Writing a command's output file so that a reader never sees half of it.
#pragma once

#include <string>
#include <string_view>

namespace hugeshim::collector {

// Writes `content` to a temporary file beside `path` (same directory, so
// the rename stays on one file system), flushes it to disk and renames it
// over `path`. "-" writes to stdout instead. Throws std::runtime_error with
// one line naming the path and the error; the temporary file is removed.
void write_file_atomically(const std::string& path, std::string_view content);

}  // namespace hugeshim::collector
