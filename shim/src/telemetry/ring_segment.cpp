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

// Slot pages are made real this many bytes at a time (341 records).
constexpr uint64_t kReserveStep = 64 * 1024;

// The current segment's file, for its removal at exit (one per process).
char g_path[512];
const hugeshim_ring_header* g_current = nullptr;

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

// The per-UID directory under a shared root (HUGESHIM_RING_ROOT), opened
// relative to the root so no path is looked up twice. The root must be a
// directory, not a symlink, owned by root or by us, and sticky when others
// may write to it (as /tmp): then only we can rename or remove what we
// create there. Ours is created 0700 and must be a directory (never a
// symlink), owned by our euid and closed to everyone else.
int open_ring_dir_in_root(const char* root) {
  int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (root_fd < 0) {
    log_at(LogLevel::warn, "telemetry off: cannot open ring root %s: %s", root, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(root_fd, &st) != 0 || (st.st_uid != 0 && st.st_uid != geteuid()) ||
      ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))) {
    log_at(LogLevel::warn, "telemetry off: ring root %s must be owned by root or uid %u and sticky when others may write to it",
           root, static_cast<unsigned>(geteuid()));
    close(root_fd);
    return -1;
  }
  char name[16];
  snprintf(name, sizeof name, "%u", static_cast<unsigned>(geteuid()));
  if (mkdirat(root_fd, name, 0700) != 0 && errno != EEXIST) {
    log_at(LogLevel::warn, "telemetry off: cannot create ring directory %s/%s: %s", root, name, strerror(errno));
    close(root_fd);
    return -1;
  }
  int fd = openat(root_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  const int open_errno = errno;
  close(root_fd);
  if (fd < 0) {
    log_at(LogLevel::warn, "telemetry off: cannot open ring directory %s/%s: %s", root, name, strerror(open_errno));
    return -1;
  }
  if (fstat(fd, &st) != 0 || st.st_uid != geteuid() || (st.st_mode & 077)) {
    log_at(LogLevel::warn, "telemetry off: ring directory %s/%s must be owned by uid %s with mode 0700", root, name, name);
    close(fd);
    return -1;
  }
  return fd;
}

// Opens the ring directory, creating it 0700 when missing. Refuses a
// symlink, a non-directory, or a directory owned by another user. The
// directory of a shared root (the one options derived from it) gets the
// stricter checks above.
int open_ring_dir(const char* dir) {
  if (g_options.ring_root[0] && !strcmp(dir, g_options.ring_dir)) return open_ring_dir_in_root(g_options.ring_root);
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
  // Slots stay untouched: an all-zero slot is free for lap 0 (ring.h).
}

// Makes [0, header size) real. MADV_POPULATE_WRITE reports a full file system
// as an error where a touch would raise SIGBUS. Kernels before 5.14 lack it
// (EINVAL): there the whole file is allocated at once with fallocate.
// Returns the bytes now real, or 0 when there is no room.
uint64_t reserve_at_creation(void* map, int fd, uint64_t size) {
  const uint64_t header = round_up(sizeof(hugeshim_ring_header), kBasePage);
  if (os_madvise(map, header, MADV_POPULATE_WRITE) == 0) return header;
  if (errno == EINVAL && fallocate(fd, 0, 0, static_cast<off_t>(size)) == 0) return size;
  return 0;
}

bool nothing_recorded(const hugeshim_ring_header* h) {
  if (__atomic_load_n(&h->enqueue_pos, __ATOMIC_RELAXED)) return false;
  for (const auto& c : h->counters)
    if (__atomic_load_n(&c.events, __ATOMIC_RELAXED)) return false;
  for (const auto& stripe : h->small_calls)
    for (const uint64_t& calls : stripe.calls)
      if (__atomic_load_n(&calls, __ATOMIC_RELAXED)) return false;
  return true;
}

// Whether a segment can go: no collector ever saw it and it holds nothing.
bool unneeded(const hugeshim_ring_header* h) {
  return !__atomic_load_n(&h->reader_attached, __ATOMIC_ACQUIRE) && nothing_recorded(h);
}

void mark(hugeshim_ring_header* h, uint32_t state, uint64_t now_ns) {
  __atomic_store_n(&h->exit_monotonic_ns, now_ns, __ATOMIC_RELAXED);
  __atomic_store_n(&h->producer_state, state, __ATOMIC_RELEASE);
}

// If `name` (in dir_fd) is a segment of one of this process's previous
// images, still marked RUNNING, marks it EXECED and removes it if unneeded.
void close_previous_image(int dir_fd, const char* name, uint64_t now_ns) {
  int fd = openat(dir_fd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st;
  const size_t header = sizeof(hugeshim_ring_header);
  void* map = MAP_FAILED;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
      static_cast<uint64_t>(st.st_size) >= header)
    map = os_mmap(nullptr, header, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (map == MAP_FAILED) return;
  // Its creator made the header real; populating again is a no-op then, and
  // an error (never SIGBUS) for a file that is not what its name says.
  auto* h = static_cast<hugeshim_ring_header*>(map);
  if (os_madvise(map, round_up(header, kBasePage), MADV_POPULATE_WRITE) == 0 &&
      __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) == HUGESHIM_RING_MAGIC &&
      h->abi_version == HUGESHIM_RING_ABI_VERSION && h->pid == static_cast<int32_t>(getpid()) &&
      h->start_ticks == self_start_ticks() &&
      __atomic_load_n(&h->producer_state, __ATOMIC_ACQUIRE) == HUGESHIM_PRODUCER_RUNNING) {
    mark(h, HUGESHIM_PRODUCER_EXECED, now_ns);
    if (unneeded(h)) unlinkat(dir_fd, name, 0);
  }
  os_munmap(map, header);
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
  uint64_t reserved = addr != MAP_FAILED ? reserve_at_creation(addr, fd, size) : 0;
  close(fd);
  if (reserved == 0) {
    log_at(LogLevel::warn, "telemetry off: cannot %s %s/%s (%s)", addr == MAP_FAILED ? "size or map" : "fill",
           dir, name, addr == MAP_FAILED ? strerror(errno) : "its file system is full");
    if (addr != MAP_FAILED) os_munmap(addr, size);
    unlinkat(dir_fd, name, 0);
    close(dir_fd);
    return nullptr;
  }
  close(dir_fd);
  auto* header = static_cast<hugeshim_ring_header*>(addr);
  fill_identity(header, capacity, start_ticks, size);
  header->reserved_bytes = reserved;
  snprintf(g_path, sizeof g_path, "%s/%s", dir, name);
  g_current = header;
  __atomic_store_n(&header->magic, HUGESHIM_RING_MAGIC, __ATOMIC_RELEASE);
  return header;
}

bool ring_segment_reserve(hugeshim_ring_header* header, uint64_t end) {
  const uint64_t size = header->segment_size;
  uint64_t have = __atomic_load_n(&header->reserved_bytes, __ATOMIC_ACQUIRE);
  uint64_t want = round_up(end, kReserveStep);
  if (want > size) want = size;
  if (end > want) return false;  // past the segment: never a valid slot
  if (want <= have) return true;
  int saved = errno;
  // Threads racing here populate the same pages: harmless, and each then
  // raises the mark to at least its own end.
  bool ok = os_madvise(reinterpret_cast<char*>(header) + have, want - have, MADV_POPULATE_WRITE) == 0;
  errno = saved;
  if (!ok) return false;
  while (have < want &&
         !__atomic_compare_exchange_n(&header->reserved_bytes, &have, want, true, __ATOMIC_RELEASE,
                                      __ATOMIC_ACQUIRE)) {
  }
  return true;
}

void ring_segment_unmap(hugeshim_ring_header* header) {
  os_munmap(header, header->segment_size);
}

void ring_segment_exit(hugeshim_ring_header* header, uint64_t now_ns) {
  mark(header, HUGESHIM_PRODUCER_EXITED, now_ns);
  // Marked first: a collector attaching right now sees an exit, not a kill.
  if (header == g_current && unneeded(header)) unlink(g_path);
}

void ring_segment_close_previous_images(const char* dir, uint64_t now_ns) {
  int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir_fd < 0) return;  // no directory yet: no previous image wrote one
  char prefix[64];
  int prefix_len = snprintf(prefix, sizeof prefix, HUGESHIM_RING_FILE_PREFIX "%d-%llu-", static_cast<int>(getpid()),
                            static_cast<unsigned long long>(self_start_ticks()));
  alignas(8) char buf[4096];
  for (;;) {
    long n = os_getdents64(dir_fd, buf, sizeof buf);
    if (n <= 0) break;
    for (long at = 0; at < n;) {
      const auto* entry = reinterpret_cast<const os_dirent64*>(buf + at);
      at += entry->d_reclen;
      if (strncmp(entry->d_name, prefix, static_cast<size_t>(prefix_len)) == 0)
        close_previous_image(dir_fd, entry->d_name, now_ns);
    }
  }
  close(dir_fd);
}

}  // namespace hugeshim
