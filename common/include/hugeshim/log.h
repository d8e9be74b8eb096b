// stderr lines from the shim: "hugeshim[PID]: ...". Formats into a stack
// buffer and writes with one write(2): no stdio locks, no allocation, safe
// on every interposed path.
#pragma once

#include "hugeshim/options.h"

namespace hugeshim {

// Always printed (configuration errors the user must see).
void log_error(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// Printed when HUGESHIM_LOG is at least `level`.
void log_at(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace hugeshim
