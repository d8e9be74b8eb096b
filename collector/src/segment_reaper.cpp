#include "segment_reaper.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "hugeshim/ring.h"
#include "process_probe.h"
#include "sigbus_guard.h"

namespace hugeshim::collector {
namespace {

bool is_segment_name(const char* name) {
  const size_t len = strlen(name), prefix = strlen(HUGESHIM_RING_FILE_PREFIX), suffix = strlen(HUGESHIM_RING_FILE_SUFFIX);
  return len > prefix + suffix && !strncmp(name, HUGESHIM_RING_FILE_PREFIX, prefix) &&
         !strcmp(name + len - suffix, HUGESHIM_RING_FILE_SUFFIX);
}

bool nothing_recorded(const hugeshim_ring_header& h) {
  if (h.enqueue_pos) return false;
  for (const auto& c : h.counters)
    if (c.events) return false;
  for (const auto& stripe : h.small_calls)
    for (uint64_t calls : stripe.calls)
      if (calls) return false;
  return true;
}

// Whether the segment `name` can go. The header is copied out under the
// SIGBUS guard and only the copy is looked at (hostile input, as everywhere
// in the collector); the exclusive lock keeps a draining collector's segment.
bool finished(int dir_fd, const char* name) {
  int fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  struct stat st;
  const size_t size = sizeof(hugeshim_ring_header);
  bool result = false;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
      static_cast<size_t>(st.st_size) >= size && flock(fd, LOCK_EX | LOCK_NB) == 0) {
    void* map = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (map != MAP_FAILED) {
      hugeshim_ring_header h;
      if (run_guarded([&] { memcpy(&h, map, size); }) && h.magic == HUGESHIM_RING_MAGIC &&
          h.abi_version == HUGESHIM_RING_ABI_VERSION && !process_running(h.pid, h.start_ticks))
        result = h.reader_attached ? h.dequeue_pos == h.enqueue_pos : nothing_recorded(h);
      munmap(map, size);
    }
  }
  close(fd);  // drops the lock
  return result;
}

}  // namespace

int reap_finished_segments(const std::string& dir) {
  int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir_fd < 0) return 0;
  struct stat st;
  std::vector<std::string> names;
  if (fstat(dir_fd, &st) == 0 && st.st_uid == geteuid()) {
    if (DIR* d = fdopendir(dup(dir_fd))) {
      while (dirent* e = readdir(d))
        if (is_segment_name(e->d_name)) names.emplace_back(e->d_name);
      closedir(d);
    }
  }
  int removed = 0;
  for (const std::string& name : names)
    if (finished(dir_fd, name.c_str()) && unlinkat(dir_fd, name.c_str(), 0) == 0) ++removed;
  close(dir_fd);
  return removed;
}

}  // namespace hugeshim::collector
