#include "top_sampler.h"

#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <stdexcept>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "process_probe.h"
#include "sigbus_guard.h"

namespace hugeshim::collector {
namespace {

bool is_segment_name(const std::string& name) {
  const std::string prefix = HUGESHIM_RING_FILE_PREFIX, suffix = HUGESHIM_RING_FILE_SUFFIX;
  return name.size() > prefix.size() + suffix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Reads one segment read-only; false (with *why) when it cannot be used.
// A segment not initialised yet is skipped without a word.
bool read_segment(int dir_fd, const std::string& name, ProcessSample* out, std::string* why, bool* pending) {
  *pending = false;
  int fd = -1;
  size_t size = 0;
  const SegmentFileResult opened = open_segment_file(dir_fd, name, O_RDONLY, geteuid(), &fd, &size, why);
  if (opened != SegmentFileResult::ok) {
    // Removed since the listing, or not sized yet: skipped without a word.
    *pending = opened == SegmentFileResult::pending;
    return false;
  }
  bool ok = false;
  void* map = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) {
    *why = std::string("cannot map: ") + strerror(errno);
  } else {
    std::optional<RingView> view;
    const bool intact = run_guarded([&] {
      view = RingView::validate(map, size, why, pending);
      if (!view) return;
      out->identity = view->identity();
      out->totals = view->totals();
    });
    munmap(map, size);
    if (!intact) {
      *pending = false;
      *why = "file shrank while being read";
    }
    ok = intact && view.has_value();
  }
  close(fd);
  return ok;
}

}  // namespace

DirectorySample sample_ring_directory(const std::string& dir) {
  const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) throw std::runtime_error("cannot open ring directory " + dir + ": " + strerror(errno));
  struct stat st;
  if (fstat(dir_fd, &st) != 0 || st.st_uid != geteuid()) {
    close(dir_fd);
    throw std::runtime_error("ring directory " + dir + " belongs to uid " + std::to_string(st.st_uid) +
                             ", not to us (" + std::to_string(geteuid()) + "): refused");
  }
  const int list_fd = dup(dir_fd);
  DIR* d = list_fd >= 0 ? fdopendir(list_fd) : nullptr;
  if (!d) {
    const int err = errno;
    if (list_fd >= 0) close(list_fd);
    close(dir_fd);
    throw std::runtime_error("cannot list ring directory " + dir + ": " + strerror(err));
  }
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = readdir(d))
    if (is_segment_name(e->d_name)) names.emplace_back(e->d_name);
  const int list_error = errno;
  closedir(d);
  if (list_error) {
    close(dir_fd);
    throw std::runtime_error("cannot list ring directory " + dir + ": " + strerror(list_error));
  }

  DirectorySample sample;
  sample.taken = std::chrono::steady_clock::now();
  for (const std::string& name : names) {
    ProcessSample p;
    p.segment = name;
    std::string why;
    bool pending = false;
    if (!read_segment(dir_fd, name, &p, &why, &pending)) {
      if (!pending) sample.refused.push_back(name + ": " + why);
      continue;
    }
    if (p.totals.execed) p.state = "execed";
    else if (p.totals.exited) p.state = "exited";
    else if (!process_running(p.identity.pid, p.identity.start_ticks)) p.state = "killed";
    sample.processes.push_back(std::move(p));
  }
  close(dir_fd);
  return sample;
}

}  // namespace hugeshim::collector
