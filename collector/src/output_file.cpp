#include "output_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace hugeshim::collector {

void write_file_atomically(const std::string& path, std::string_view content) {
  if (path == "-") {
    if (fwrite(content.data(), 1, content.size(), stdout) != content.size() || fflush(stdout) != 0)
      throw std::runtime_error(std::string("cannot write to stdout: ") + strerror(errno));
    return;
  }
  std::string temp = path + ".XXXXXX";
  const int fd = mkstemp(temp.data());
  if (fd < 0) throw std::runtime_error("cannot write " + path + ": " + strerror(errno));
  auto fail = [&](const char* what) {
    const int err = errno;
    close(fd);
    unlink(temp.c_str());
    throw std::runtime_error("cannot write " + path + ": " + what + ": " + strerror(err));
  };
  for (size_t done = 0; done < content.size();) {
    const ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("write");
    done += static_cast<size_t>(n);
  }
  // mkstemp creates 0600; an output file is as readable as any other.
  const mode_t mask = umask(0);
  umask(mask);
  if (fchmod(fd, 0666 & ~mask) != 0) fail("chmod");
  if (fsync(fd) != 0) fail("fsync");
  if (close(fd) != 0) {
    const int err = errno;
    unlink(temp.c_str());
    throw std::runtime_error("cannot write " + path + ": close: " + strerror(err));
  }
  if (rename(temp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    unlink(temp.c_str());
    throw std::runtime_error("cannot write " + path + ": rename: " + strerror(err));
  }
}

}  // namespace hugeshim::collector
