#include "os/backing.h"

#include <fcntl.h>
#include <linux/mempolicy.h>
#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "hugeshim/small_file.h"
#include "os/proc_fields.h"
#include "os/os.h"

namespace hugeshim {
namespace {

bool g_thp_usable = false;

// An anonymous private mapping at addr (MAP_FIXED or NOREPLACE in flags);
// returns the address or -1 with errno set.
long map_at(uintptr_t addr, size_t len, int prot, int flags) {
  return reinterpret_cast<long>(os_mmap(as_ptr(addr), len, prot, flags | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
}

int raw_errno(long r) { return r == -1 ? errno : 0; }

// After a failed MAP_FIXED the kernel may have unmapped [addr, addr + len)
// (it does for hugetlb on 6.18), and another thread's mmap could land in the
// hole before we look. Re-reserve without replacing anything: success means
// the range is ours again; any other answer means we cannot tell, and the
// caller must treat the range as lost.
bool restore_reservation(uintptr_t addr, size_t len) { return backing_reserve(addr, len) == 0; }

struct PopulateJob {
  uintptr_t addr;
  size_t len;
  int err;
};

int populate_range(uintptr_t addr, size_t len) {
  int saved = errno;
  int err = 0;
  if (os_madvise(as_ptr(addr), len, MADV_POPULATE_WRITE) != 0) {
    err = errno;
    if (err == EINVAL) {
      // Kernel without MADV_POPULATE_WRITE: touch each base page. The range
      // is fresh (zero) and not yet visible to the program.
      volatile unsigned char* p = reinterpret_cast<unsigned char*>(addr);
      for (size_t off = 0; off < len; off += kBasePage) p[off] = 0;
      err = 0;
    }
  }
  errno = saved;
  return err;
}

// A populate helper thread. It makes raw system calls only (no interposed
// symbol, no allocation), so it needs no reentrancy guard.
void* populate_worker(void* arg) {
  auto* job = static_cast<PopulateJob*>(arg);
  job->err = populate_range(job->addr, job->len);
  return nullptr;
}

// Calls on_line(line) for each line of a procfs file, NUL-terminated,
// through a stack buffer (a line longer than it is skipped); on_line
// returns false to stop. False when the file cannot be opened.
template <typename F>
bool for_each_line(const char* path, F on_line) {
  int saved = errno;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    errno = saved;
    return false;
  }
  char buf[8192];
  size_t have = 0;
  bool more = true;
  while (more) {
    ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
    if (n <= 0) break;
    have += static_cast<size_t>(n);
    size_t pos = 0;
    while (more) {
      char* nl = static_cast<char*>(memchr(buf + pos, '\n', have - pos));
      if (!nl) break;
      *nl = 0;
      more = on_line(buf + pos);
      pos = static_cast<size_t>(nl - buf) + 1;
    }
    memmove(buf, buf + pos, have - pos);
    have -= pos;
    if (have == sizeof buf - 1) have = 0;
  }
  close(fd);
  errno = saved;
  return true;
}

}  // namespace

uint64_t backing_thp_bytes(uintptr_t addr, size_t len) {
  uintptr_t p0 = addr, p1 = addr + len;
  uintptr_t vma_start = 0, vma_end = 0;
  uint64_t huge = 0;
  for_each_line("/proc/self/smaps", [&](const char* line) {
    // A VMA header starts with a lowercase hex digit, fields with a capital.
    if ((*line >= '0' && *line <= '9') || (*line >= 'a' && *line <= 'f')) {
      const char* s = line;
      vma_start = proc_parse_hex(s);
      if (*s == '-') ++s;
      vma_end = proc_parse_hex(s);
      return vma_start < p1;  // sorted by address: past the range, stop
    }
    uint64_t kb = proc_field_value(line, "AnonHugePages:");
    if (kb == ~0ull || kb == 0 || vma_end <= p0 || vma_start >= p1) return true;
    uintptr_t lo = vma_start > p0 ? vma_start : p0, hi = vma_end < p1 ? vma_end : p1;
    huge += static_cast<uint64_t>(static_cast<__uint128_t>(kb << 10) * (hi - lo) / (vma_end - vma_start));
    return true;
  });
  return huge;
}

bool backing_thp_vmstat(uint64_t* thp_fault_alloc, uint64_t* thp_fault_fallback, uint64_t* compact_stall,
                        uint64_t* compact_fail) {
  int found = 0;
  bool opened = for_each_line("/proc/vmstat", [&](const char* line) {
    struct Field {
      const char* name;
      uint64_t* out;
    } fields[] = {{"thp_fault_alloc ", thp_fault_alloc},
                  {"thp_fault_fallback ", thp_fault_fallback},
                  {"compact_stall ", compact_stall},
                  {"compact_fail ", compact_fail}};
    for (const Field& f : fields)
      if (uint64_t v = proc_field_value(line, f.name); v != ~0ull) {
        *f.out = v;
        ++found;
      }
    return found < 4;
  });
  return opened && found == 4;
}

void backing_init() {
  char buf[128];
  g_thp_usable = read_text_file("/sys/kernel/mm/transparent_hugepage/enabled", buf, sizeof buf) > 0 &&
                 (strstr(buf, "[always]") || strstr(buf, "[madvise]"));
}

bool backing_thp_usable() { return g_thp_usable; }

int backing_map_hugetlb(uintptr_t addr, size_t len, size_t page_size) {
  if (backing_hugetlb_available(page_size) < len / page_size) return ENOMEM;
  int log2 = page_size == kPage1G ? 30 : 21;
  long r = map_at(addr, len, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_HUGETLB | (log2 << MAP_HUGE_SHIFT));
  int err = raw_errno(r);
  if (err && !restore_reservation(addr, len)) return kRangeLost;
  return err;
}

int backing_map_anon(uintptr_t addr, size_t len, bool thp, int* advise_err) {
  long r = map_at(addr, len, PROT_READ | PROT_WRITE, MAP_FIXED);
  int err = raw_errno(r);
  if (err) return restore_reservation(addr, len) ? err : kRangeLost;
  *advise_err = 0;
  if (thp) {
    int saved = errno;
    if (os_madvise(as_ptr(addr), len, MADV_HUGEPAGE) != 0) *advise_err = errno;
    errno = saved;
  }
  return 0;
}

int backing_reserve(uintptr_t addr, size_t len) {
  int saved = errno;
  long r = map_at(addr, len, PROT_NONE, MAP_NORESERVE | MAP_FIXED_NOREPLACE);
  int err = raw_errno(r);
  if (!err && r != static_cast<long>(addr)) {
    // Kernels before 4.17 take MAP_FIXED_NOREPLACE as a hint, which they
    // follow whenever the range is free: elsewhere means occupied.
    os_munmap(reinterpret_cast<void*>(r), len);
    err = EEXIST;
  }
  errno = saved;
  return err;
}

void backing_release(uintptr_t addr, size_t len) {
  int saved = errno;
  os_munmap(as_ptr(addr), len);
  errno = saved;
}

bool backing_mapped(uintptr_t addr, size_t len) {
  int saved = errno;
  uintptr_t lo = round_down(addr, kBasePage), hi = round_up(addr + len, kBasePage);
  bool mapped = true;
  // mincore fails with ENOMEM on any unmapped page; one vector byte per page.
  unsigned char vec[64];
  for (uintptr_t at = lo; at < hi && mapped; at += sizeof vec * kBasePage) {
    size_t n = hi - at < sizeof vec * kBasePage ? hi - at : sizeof vec * kBasePage;
    mapped = os_mincore(as_ptr(at), n, vec) == 0;
  }
  errno = saved;
  return mapped;
}

void backing_unmap(uintptr_t addr, size_t len) {
  int saved = errno;
  map_at(addr, len, PROT_NONE, MAP_FIXED | MAP_NORESERVE);
  errno = saved;
}

int backing_bind(uintptr_t addr, size_t len, int32_t node) {
  unsigned long mask[16] = {};  // up to 1024 nodes
  int mode;
  if (node >= 0) {
    if (node >= 1024) return EINVAL;
    mask[node / 64] |= 1ul << (node % 64);
    mode = MPOL_PREFERRED;
  } else {
    // Interleave over every node with memory: the allowed set from the kernel.
    char buf[256];
    if (read_text_file("/sys/devices/system/node/has_memory", buf, sizeof buf) <= 0) return ENOENT;
    // Format: "0-3,5" ranges.
    for (char* p = buf; *p && *p != '\n';) {
      long a = strtol(p, &p, 10), b = a;
      if (*p == '-') b = strtol(p + 1, &p, 10);
      for (long n = a; n <= b && n < 1024; ++n) mask[n / 64] |= 1ul << (n % 64);
      if (*p == ',') ++p;
      else break;
    }
    mode = MPOL_INTERLEAVE;
  }
  int saved = errno;
  long r = os_mbind(as_ptr(addr), len, mode, mask, 1024ul + 1, 0u);
  int err = r == 0 ? 0 : errno;
  errno = saved;
  return err;
}

int backing_populate(uintptr_t addr, size_t len, unsigned threads) {
  // Each thread gets at least 64 MiB: below that, thread start-up costs more
  // than it saves.
  constexpr size_t kMinShare = size_t{64} << 20;
  unsigned n = threads ? threads : 1;
  if (len / kMinShare < n) n = static_cast<unsigned>(len / kMinShare);
  if (n <= 1) return populate_range(addr, len);
  if (n > 64) n = 64;

  PopulateJob jobs[64];
  pthread_t tids[64];
  bool started[64] = {};
  size_t share = (len / n + kPage2M - 1) & ~(kPage2M - 1);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  unsigned used = 0;
  for (size_t off = 0; off < len && used < n; off += share, ++used) {
    jobs[used] = PopulateJob{addr + off, off + share > len ? len - off : share, 0};
    // Job 0 runs on the calling thread below; the rest on helpers.
    if (used > 0)
      started[used] = pthread_create(&tids[used], &attr, populate_worker, &jobs[used]) == 0;
  }
  pthread_attr_destroy(&attr);
  jobs[0].err = populate_range(jobs[0].addr, jobs[0].len);
  int err = jobs[0].err;
  for (unsigned i = 1; i < used; ++i) {
    if (started[i]) pthread_join(tids[i], nullptr);
    else jobs[i].err = populate_range(jobs[i].addr, jobs[i].len);
    if (!err) err = jobs[i].err;
  }
  return err;
}

int backing_lock(uintptr_t addr, size_t len) {
  int saved = errno;
  int err = os_mlock(as_ptr(addr), len) == 0 ? 0 : errno;
  errno = saved;
  return err;
}

int32_t backing_node_of(uintptr_t addr) {
  int saved = errno;
  int node = -1;
  if (os_get_mempolicy(&node, nullptr, 0ul, as_ptr(addr), MPOL_F_NODE | MPOL_F_ADDR) != 0) node = -1;
  errno = saved;
  return node;
}

size_t backing_hugetlb_available(size_t page_size) {
  char path[128];
  unsigned kb = static_cast<unsigned>(page_size >> 10);
  snprintf(path, sizeof path, "/sys/kernel/mm/hugepages/hugepages-%ukB/free_hugepages", kb);
  long free_pages = read_long_file(path);
  snprintf(path, sizeof path, "/sys/kernel/mm/hugepages/hugepages-%ukB/resv_hugepages", kb);
  long resv = read_long_file(path);
  if (free_pages < 0 || resv < 0 || free_pages <= resv) return 0;
  return static_cast<size_t>(free_pages - resv);
}

}  // namespace hugeshim
