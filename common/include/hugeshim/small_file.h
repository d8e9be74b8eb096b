// Reading small procfs and sysfs files (a page or less) into caller buffers:
// open, read until end or full, close. No allocation and no stdio, so the
// shim may call these on any path; none of the calls is one the shim
// interposes.
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace hugeshim {

// Reads up to `size` bytes of the file at `path` into buf, as they are (a
// /proc/PID/cmdline keeps its NULs). Returns the bytes read, or -1 when the
// file cannot be opened.
ssize_t read_file_bytes(const char* path, void* buf, size_t size);

// Reads the file as text: at most size - 1 bytes, NUL-terminated, trailing
// newlines, spaces and tabs removed. Returns the length, or -1 when the file
// cannot be opened. size must be at least 1.
ssize_t read_text_file(const char* path, char* buf, size_t size);

// The decimal number a file holds ("64\n"), or -1 when it cannot be read or
// does not start with a number.
long read_long_file(const char* path);

}  // namespace hugeshim
