#include "hugeshim/small_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace hugeshim {

ssize_t read_file_bytes(const char* path, void* buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  auto* out = static_cast<char*>(buf);
  size_t got = 0;
  while (got < size) {
    ssize_t n = read(fd, out + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  return static_cast<ssize_t>(got);
}

ssize_t read_text_file(const char* path, char* buf, size_t size) {
  ssize_t n = read_file_bytes(path, buf, size - 1);
  if (n < 0) {
    buf[0] = '\0';
    return -1;
  }
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\t')) --n;
  buf[n] = '\0';
  return n;
}

long read_long_file(const char* path) {
  char buf[64];
  if (read_text_file(path, buf, sizeof buf) <= 0) return -1;
  char* end;
  long v = strtol(buf, &end, 10);
  return end == buf ? -1 : v;
}

}  // namespace hugeshim
