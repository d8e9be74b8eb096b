#include "telemetry/ring_segment.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hugeshim/clock.h"
#include "hugeshim/log.h"
#include "hugeshim/options.h"
#include "hugeshim/small_file.h"
#include "os/os.h"

namespace hugeshim {
namespace {

// Field 22 of /proc/self/stat (start time in clock ticks since boot). The
// command name (field 2) may hold spaces and ')', so count from the last ')'.
uint64_t self_start_ticks() {
  char buf[1024];
  if (read_text_file("/proc/self/stat", buf, sizeof buf) < 0) return 0;
  const char* p = strrchr(buf, ')');
  if (!p) return 0;
  // After ")" come fields 3.. separated by single spaces; starttime is the 20th.
  for (int field = 2; field < 22 && p; ++field) p = strchr(p + 1, ' ');
  if (!p) return 0;
  uint64_t ticks = 0;
  for (++p; *p >= '0' && *p <= '9'; ++p) ticks = ticks * 10 + static_cast<uint64_t>(*p - '0');
  return ticks;
}

// Opens the ring directory, creating it 0700 when missing. Refuses a
// symlink, a non-directory, or a directory owned by another user.
int open_ring_dir(const char* dir) {
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    log_at(LogLevel::warn, "telemetry off: cannot create ring directory %s: %s", dir, strerror(errno));
    return -1;
  }
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    log_at(LogLevel::warn, "telemetry off: cannot open ring directory %s: %s", dir, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_uid != geteuid()) {
    log_at(LogLevel::warn, "telemetry off: ring directory %s is owned by uid %u, not %u", dir,
           static_cast<unsigned>(st.st_uid), static_cast<unsigned>(geteuid()));
    close(fd);
    return -1;
  }
  return fd;
}

void fill_identity(hugeshim_ring_header* h, uint32_t capacity, uint64_t start_ticks,
                   uint64_t segment_size) {
  h->abi_version = HUGESHIM_RING_ABI_VERSION;
  h->header_size = sizeof(hugeshim_ring_header);
  h->slot_size = sizeof(hugeshim_ring_slot);
  h->capacity = capacity;
  h->slots_offset = sizeof(hugeshim_ring_header);
  h->segment_size = segment_size;
  h->pid = static_cast<int32_t>(getpid());
  h->ppid = static_cast<int32_t>(getppid());
  h->uid = static_cast<uint32_t>(geteuid());
  h->producer_state = HUGESHIM_PRODUCER_RUNNING;
  h->start_ticks = start_ticks;
  h->start_realtime_ns = clock_ns(CLOCK_REALTIME);
  h->start_monotonic_ns = clock_ns(CLOCK_MONOTONIC);

  ssize_t n = readlink("/proc/self/exe", h->exe, sizeof h->exe - 1);
  h->exe[n > 0 ? n : 0] = 0;
  ssize_t cmdline = read_file_bytes("/proc/self/cmdline", h->cmdline, sizeof h->cmdline);
  h->cmdline_bytes = cmdline > 0 ? static_cast<uint32_t>(cmdline) : 0;

  size_t count;
  const OptionInfo* table = options_table(&count);
  size_t at = 0;
  for (size_t i = 0; i < count; ++i) {
    char value[256];
    option_effective_value(i, value, sizeof value);
    int w = snprintf(h->config + at, sizeof h->config - at, "%s=%s\n", table[i].name, value);
    if (w < 0 || static_cast<size_t>(w) >= sizeof h->config - at) break;  // cut at a whole line
    at += static_cast<size_t>(w);
  }
  h->config_bytes = static_cast<uint32_t>(at);

  auto* slots = reinterpret_cast<hugeshim_ring_slot*>(reinterpret_cast<char*>(h) + h->slots_offset);
  for (uint64_t i = 0; i < capacity; ++i) slots[i].seq = i;
}

}  // namespace

hugeshim_ring_header* ring_segment_create(const char* dir, uint32_t capacity) {
  if (capacity < HUGESHIM_RING_MIN_SLOTS || capacity > HUGESHIM_RING_MAX_SLOTS ||
      (capacity & (capacity - 1)))
    return nullptr;
  int dir_fd = open_ring_dir(dir);
  if (dir_fd < 0) return nullptr;

  uint64_t start_ticks = self_start_ticks();
  // pid + start ticks name the process; exec keeps both, so the creation
  // time names the program image (each exec'd image gets its own segment).
  char name[96];
  snprintf(name, sizeof name, HUGESHIM_RING_FILE_PREFIX "%d-%llu-%llu" HUGESHIM_RING_FILE_SUFFIX,
           static_cast<int>(getpid()), static_cast<unsigned long long>(start_ticks),
           static_cast<unsigned long long>(clock_ns(CLOCK_MONOTONIC)));
  int fd = openat(dir_fd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    log_at(LogLevel::warn, "telemetry off: cannot create %s/%s: %s", dir, name, strerror(errno));
    close(dir_fd);
    return nullptr;
  }
  const uint64_t size = sizeof(hugeshim_ring_header) + uint64_t{capacity} * sizeof(hugeshim_ring_slot);
  void* addr = MAP_FAILED;
  if (ftruncate(fd, static_cast<off_t>(size)) == 0)
    addr = os_mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (addr == MAP_FAILED) {
    log_at(LogLevel::warn, "telemetry off: cannot size or map %s/%s", dir, name);
    unlinkat(dir_fd, name, 0);
    close(dir_fd);
    return nullptr;
  }
  close(dir_fd);
  auto* header = static_cast<hugeshim_ring_header*>(addr);
  fill_identity(header, capacity, start_ticks, size);
  __atomic_store_n(&header->magic, HUGESHIM_RING_MAGIC, __ATOMIC_RELEASE);
  return header;
}

void ring_segment_unmap(hugeshim_ring_header* header) {
  os_munmap(header, header->segment_size);
}

void ring_segment_mark_exited(hugeshim_ring_header* header, uint64_t now_ns) {
  __atomic_store_n(&header->exit_monotonic_ns, now_ns, __ATOMIC_RELAXED);
  __atomic_store_n(&header->producer_state, HUGESHIM_PRODUCER_EXITED, __ATOMIC_RELEASE);
}

}  // namespace hugeshim
