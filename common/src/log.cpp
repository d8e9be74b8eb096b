#include "hugeshim/log.h"

#include <cstdarg>
#include <cstdio>
#include <unistd.h>

namespace hugeshim {
namespace {

void write_line(const char* fmt, va_list args) {
  char buf[512];
  int n = snprintf(buf, sizeof buf, "hugeshim[%d]: ", static_cast<int>(getpid()));
  if (n < 0) return;
  int m = vsnprintf(buf + n, sizeof buf - static_cast<size_t>(n) - 1, fmt, args);
  if (m < 0) return;
  size_t len = static_cast<size_t>(n) + static_cast<size_t>(m);
  if (len > sizeof buf - 2) len = sizeof buf - 2;
  buf[len++] = '\n';
  // A short or failed write to stderr is not worth failing the program for.
  ssize_t ignored = write(STDERR_FILENO, buf, len);
  (void)ignored;
}

}  // namespace

void log_error(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  write_line(fmt, args);
  va_end(args);
}

void log_at(LogLevel level, const char* fmt, ...) {
  if (g_options.log < level) return;
  va_list args;
  va_start(args, fmt);
  write_line(fmt, args);
  va_end(args);
}

}  // namespace hugeshim
