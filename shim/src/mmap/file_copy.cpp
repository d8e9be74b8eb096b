#include "mmap/file_copy.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>

#include "core/fallback.h"
#include "hugeshim/log.h"
#include "hugeshim/options.h"
#include "mmap/layout.h"
#include "mmap/table.h"
#include "os/backing.h"
#include "os/os.h"
#include "telemetry/telemetry.h"

namespace hugeshim {
namespace {

constexpr unsigned kMaxReaders = 16;

struct ReadJob {
  int fd;
  unsigned char* dst;
  size_t len;
  off_t off;
  int err;
};

// Reads [off, off + len) into dst; a short file leaves the rest zero (the
// fresh mapping is zero, as the kernel's page past EOF reads).
//
// Each reader uses its own open file description of the same file (reopened
// read-only through /proc/self/fd), advised sequential: readahead state lives
// in the description, and readers sharing one would look random to it.
void read_range(ReadJob* job) {
  char path[48];
  snprintf(path, sizeof path, "/proc/self/fd/%d", job->fd);
  int own = open(path, O_RDONLY | O_CLOEXEC);
  int fd = own >= 0 ? own : job->fd;
  posix_fadvise(fd, job->off, static_cast<off_t>(job->len), POSIX_FADV_SEQUENTIAL);
  size_t done = 0;
  while (done < job->len) {
    ssize_t n = pread(fd, job->dst + done, job->len - done, job->off + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      job->err = errno;
      break;
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  if (own >= 0) close(own);
}

void* reader(void* arg) {
  read_range(static_cast<ReadJob*>(arg));
  return nullptr;
}

// Fills [dst, dst + len) from the file with up to `threads` readers, whose
// shares end on 2 MiB boundaries of the address space, so that readers fault
// disjoint huge pages.
int parallel_read(int fd, unsigned char* dst, size_t len, off_t off, unsigned threads) {
  unsigned n = threads < 1 ? 1 : threads > kMaxReaders ? kMaxReaders : threads;
  size_t share = round_up((len + n - 1) / n, kPage2M);
  ReadJob jobs[kMaxReaders];
  pthread_t tids[kMaxReaders];
  bool started[kMaxReaders] = {};
  unsigned used = 0;
  for (size_t at = 0; at < len && used < n; ++used) {
    size_t end = round_up(as_addr(dst) + at + share, kPage2M) - as_addr(dst);
    if (end > len || used + 1 == n) end = len;
    jobs[used] = ReadJob{fd, dst + at, end - at, off + static_cast<off_t>(at), 0};
    at = end;
    if (used > 0) started[used] = pthread_create(&tids[used], nullptr, reader, &jobs[used]) == 0;
  }
  read_range(&jobs[0]);
  int err = jobs[0].err;
  for (unsigned i = 1; i < used; ++i) {
    if (started[i]) pthread_join(tids[i], nullptr);
    else read_range(&jobs[i]);
    if (!err) err = jobs[i].err;
  }
  return err;
}

// True when no file description anywhere has the file open for writing. A
// read lease is granted only then (the kernel checks the inode's writer
// count), so take one and drop it at once. A lease break in that window
// (someone opening for write) signals the lease owner: route it to SIGURG,
// ignored by default, instead of SIGIO, which would end the program, and
// restore the descriptor's owner and signal after.
bool nobody_writes(int fd) {
  int held = fcntl(fd, F_GETLEASE);
  if (held == F_RDLCK) return true;  // the program's own read lease proves it
  if (held != F_UNLCK) return false;
  f_owner_ex owner;
  if (fcntl(fd, F_GETOWN_EX, &owner) != 0) return false;
  int sig = fcntl(fd, F_GETSIG);
  if (sig < 0 || fcntl(fd, F_SETSIG, SIGURG) != 0) return false;
  bool ok = fcntl(fd, F_SETLEASE, F_RDLCK) == 0;
  if (ok) fcntl(fd, F_SETLEASE, F_UNLCK);
  fcntl(fd, F_SETSIG, sig);
  fcntl(fd, F_SETOWN_EX, &owner);
  return ok;
}

// Why the file cannot be copied, or 0 when it can.
int file_unsuitable(int fd, size_t len, off_t off) {
  struct stat st;
  if (fstat(fd, &st) != 0) return errno;
  if (!S_ISREG(st.st_mode)) return ENODEV;
  // Pages wholly past the end of the file would SIGBUS in the kernel's
  // mapping; the copy would read zeros there. Leave those to the kernel.
  if (off < 0 || static_cast<uintptr_t>(off) + len > round_up(static_cast<uintptr_t>(st.st_size), kBasePage))
    return EOVERFLOW;
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return errno;
  if ((fl & O_ACCMODE) != O_RDONLY) return EACCES;
  if (!nobody_writes(fd)) return ETXTBSY;
  return 0;
}

}  // namespace

bool file_copy_shape(void* addr, size_t len, int prot, int flags, off_t off) {
  int type = flags & MAP_TYPE;
  return addr == nullptr && prot == PROT_READ && (type == MAP_PRIVATE || type == MAP_SHARED) &&
         !(flags & (MAP_ANONYMOUS | MAP_FIXED | MAP_FIXED_NOREPLACE | MAP_HUGETLB | MAP_GROWSDOWN | MAP_STACK)) &&
         len >= g_options.file_min && off % static_cast<off_t>(kBasePage) == 0 && len + kPage2M > len;
}

bool file_copy_map(size_t len, int flags, int fd, off_t off, void* caller, void** out) {
  int saved = errno;
  Event ev = event_start(HUGESHIM_API_FILE_MAP, len, caller);

  if (int why = file_unsuitable(fd, len, off)) {
    ev.fallback = HUGESHIM_FALLBACK_FILE_UNSUITABLE;
    ev.err = why;
    fallback_note(ev.fallback, why, len);
    telemetry_emit(ev);
    errno = saved;
    return false;
  }

  size_t mapped = round_up(len, kBasePage);
  uintptr_t base = 0, huge_lo = 0;
  size_t huge = 0;
  MapKind kind = (flags & MAP_TYPE) == MAP_SHARED ? MapKind::file_shared : MapKind::file_private;
  bool want_hugetlb = g_options.ladder_has(Rung::hugetlb_2m) && mapped >= kPage2M;
  if (want_hugetlb) {
    int err = backing_hugetlb_available(kPage2M) * kPage2M >= round_down(mapped, kPage2M)
                  ? layout_map_hugetlb(mapped, &base, &huge_lo, &huge)
                  : ENOMEM;
    if (err) {
      ev.fallback = err == ENOMEM ? HUGESHIM_FALLBACK_POOL_EMPTY : HUGESHIM_FALLBACK_MMAP_ERROR;
      ev.err = err;
      fallback_note(ev.fallback, err, len);
      base = 0;
    }
  }
  if (!base && g_options.ladder_has(Rung::thp) && backing_thp_usable()) {
    int advise_err = 0;
    int err = layout_map_thp(mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, 0, &base, &advise_err);
    if (err) base = 0;
    else if (!want_hugetlb && advise_err) {
      ev.fallback = HUGESHIM_FALLBACK_THP_DISABLED;
      ev.err = advise_err;
    }
  }
  if (!base) {
    // No huge pages at all: a copy into base pages would only be slower than
    // the page cache.
    if (ev.fallback == HUGESHIM_FALLBACK_NONE) ev.fallback = HUGESHIM_FALLBACK_NOT_IN_LADDER;
    fallback_note(ev.fallback, ev.err, len);
    telemetry_emit(ev);
    errno = saved;
    return false;
  }
  uint64_t mapped_ns = now_ns();
  ev.phase_ns[HUGESHIM_PHASE_RESERVE] = mapped_ns - ev.start_ns;

  int err = parallel_read(fd, reinterpret_cast<unsigned char*>(base), len, off, g_options.prefault_threads);
  uint64_t read_ns = now_ns();
  ev.phase_ns[HUGESHIM_PHASE_POPULATE] = read_ns - mapped_ns;
  bool tracked = false;
  if (!err && os_mprotect(as_ptr(base), mapped, PROT_READ) == 0) {
    mmap_table_lock();
    tracked = mmap_table_insert(MappedRange{base, base + mapped, huge_lo, huge_lo + huge, PROT_READ, kind, true, huge == 0});
    mmap_table_unlock();
  }
  if (!tracked) {
    // A read error, or no slot to keep the kernel's semantics for later
    // calls: the kernel's mapping serves the program instead.
    os_munmap(as_ptr(base), mapped);
    ev.fallback = HUGESHIM_FALLBACK_MMAP_ERROR;
    ev.err = err ? err : ENOSPC;
    fallback_note(ev.fallback, ev.err, len);
    telemetry_emit(ev);
    errno = saved;
    return false;
  }
  ev.flags |= HUGESHIM_EVENT_REDIRECTED;
  ev.address = base;
  ev.mapped = mapped;
  ev.page_bytes[HUGESHIM_PAGE_2M] = huge;
  ev.page_bytes[huge ? HUGESHIM_PAGE_BASE : HUGESHIM_PAGE_THP] = mapped - huge;
  telemetry_emit(ev);
  double ms = static_cast<double>(read_ns - ev.start_ns) / 1e6;
  log_at(LogLevel::info, "file map copy: fd %d, %zu bytes at %#lx: %zu in 2M hugetlb pages, %zu %s, loaded in %.1f ms",
         fd, len, static_cast<unsigned long>(base), huge, mapped - huge, huge ? "in base pages" : "advised THP",
         ms);
  errno = saved;
  *out = as_ptr(base);
  return true;
}

}  // namespace hugeshim
