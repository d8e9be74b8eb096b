// Writing a command's output file so that a reader never sees half of it.
#pragma once

#include <functional>
#include <ostream>
#include <string>

namespace hugeshim::collector {

// Runs `write` on a temporary file beside `path` (same directory, so the
// rename stays on one file system), flushes it to disk and renames it over
// `path`. "-" writes to stdout instead, and an existing target that is not a
// regular file (a device, a FIFO) is written in place, never replaced.
// Throws std::runtime_error with one line naming the path and the error;
// the temporary file is removed, and so it is when `write` throws.
void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write);

}  // namespace hugeshim::collector
