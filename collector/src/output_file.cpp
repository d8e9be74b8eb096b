#include "output_file.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace hugeshim::collector {

void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write) {
  if (path == "-") {
    write(std::cout);
    std::cout.flush();
    if (!std::cout) throw std::runtime_error("cannot write to stdout");
    return;
  }
  // An existing target that is not a regular file (a device such as
  // /dev/stdout, a FIFO) is written in place: renaming over it would replace
  // the node itself with a file.
  struct stat target;
  if (stat(path.c_str(), &target) == 0 && !S_ISREG(target.st_mode)) {
    if (S_ISDIR(target.st_mode)) throw std::runtime_error("cannot write " + path + ": Is a directory");
    std::ofstream out(path, std::ios::binary);
    if (!out) throw std::runtime_error("cannot write " + path + ": " + strerror(errno));
    write(out);
    out.flush();
    if (!out) throw std::runtime_error("cannot write " + path + ": " + strerror(errno ? errno : EIO));
    return;
  }
  std::string temp = path + ".XXXXXX";
  int fd = mkstemp(temp.data());
  if (fd < 0) throw std::runtime_error("cannot write " + path + ": " + strerror(errno));
  close(fd);
  auto fail = [&](const std::string& what, int err) {
    unlink(temp.c_str());
    throw std::runtime_error("cannot write " + path + ": " + what + (err ? std::string(": ") + strerror(err) : ""));
  };
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    try {
      write(out);
    } catch (...) {
      unlink(temp.c_str());
      throw;
    }
    out.close();
    if (!out) fail("write failed", errno);
  }
  fd = open(temp.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail("reopen", errno);
  // mkstemp creates 0600; an output file is as readable as any other.
  const mode_t mask = umask(0);
  umask(mask);
  const bool synced = fchmod(fd, 0666 & ~mask) == 0 && fsync(fd) == 0;
  const int err = errno;
  close(fd);
  if (!synced) fail("fsync", err);
  if (rename(temp.c_str(), path.c_str()) != 0) fail("rename", errno);
}

}  // namespace hugeshim::collector
