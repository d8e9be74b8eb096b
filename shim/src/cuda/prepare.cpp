#include "cuda/prepare.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/mempolicy.h>
#include <unistd.h>

#include "os/proc_fields.h"
#include "hugeshim/options.h"
#include "hugeshim/small_file.h"
#include "os/backing.h"
#include "os/os.h"
#include "os/populate.h"

namespace hugeshim {
namespace {

enum class Kind : uint8_t { anon, shmem, hugetlb, untouchable };

struct Vma {
  uintptr_t start = 0, end = 0;
  uint64_t rss_kb = 0, hugetlb_kb = 0;
  bool readable = false, writable = false, shared = false;
  bool anon_name = false, shmem_name = false;
  bool flag_io = false, flag_hugetlb = false, flag_huge = false, flag_nohuge = false,
       flag_uffd = false;
  Kind kind = Kind::untouchable;
};

constexpr int kMaxVmas = 32;

bool starts(const char* s, const char* prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

// "start-end perms offset dev inode   pathname"
void parse_header(const char* line, Vma* v) {
  const char* s = line;
  v->start = proc_parse_hex(s);
  if (*s == '-') ++s;
  v->end = proc_parse_hex(s);
  while (*s == ' ') ++s;
  v->readable = s[0] == 'r';
  v->writable = s[1] == 'w';
  v->shared = s[3] == 's';
  for (int field = 0; field < 4 && *s; ++field) {  // perms, offset, dev, inode
    while (*s && *s != ' ') ++s;
    while (*s == ' ') ++s;
  }
  const char* name = s;
  v->anon_name = !*name || !strcmp(name, "[heap]") || starts(name, "[anon:");
  // tmpfs objects: POSIX shared memory, memfd, SysV segments, MAP_SHARED|MAP_ANONYMOUS.
  v->shmem_name = starts(name, "/dev/shm/") || starts(name, "/memfd:") || starts(name, "/SYSV") ||
                  !strcmp(name, "/dev/zero (deleted)");
}

void parse_vmflags(const char* s, Vma* v) {
  for (; *s; ++s) {
    if (*s == ' ') continue;
    char a = s[0], b = s[1];
    if (!b) break;
    if ((a == 'i' && b == 'o') || (a == 'p' && b == 'f')) v->flag_io = true;
    else if (a == 'h' && b == 't') v->flag_hugetlb = true;
    else if (a == 'h' && b == 'g') v->flag_huge = true;
    else if (a == 'n' && b == 'h') v->flag_nohuge = true;
    else if (a == 'u' && (b == 'm' || b == 'w')) v->flag_uffd = true;
    ++s;
  }
}

Kind classify(const Vma& v, bool read_only) {
  if (!v.readable || (!read_only && !v.writable)) return Kind::untouchable;  // the pin would fail
  if (v.flag_io || v.flag_uffd) return Kind::untouchable;
  if (v.flag_hugetlb) return Kind::hugetlb;
  if (v.anon_name && !v.shared) return Kind::anon;
  if (v.shmem_name && v.shared) return Kind::shmem;
  return Kind::untouchable;
}

// The VMAs covering [p0, p1), in order; false when the range has a hole,
// needs more than kMaxVmas entries, or smaps cannot be read.
bool read_vmas(uintptr_t p0, uintptr_t p1, bool read_only, Vma out[], int* count) {
  int fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[8192];
  size_t have = 0;
  int n = 0;
  bool ok = true, done = false, open_vma = false;
  Vma cur;
  auto close_vma = [&] {
    if (!open_vma) return;
    open_vma = false;
    if (cur.end <= p0 || cur.start >= p1) return;
    if (n == kMaxVmas) {
      ok = false;
      return;
    }
    cur.kind = classify(cur, read_only);
    out[n++] = cur;
  };
  while (!done && ok) {
    ssize_t got = read(fd, buf + have, sizeof buf - have);
    if (got <= 0) break;
    have += static_cast<size_t>(got);
    size_t pos = 0;
    while (ok) {
      char* nl = static_cast<char*>(memchr(buf + pos, '\n', have - pos));
      if (!nl) break;
      *nl = 0;
      const char* line = buf + pos;
      pos = static_cast<size_t>(nl - buf) + 1;
      if ((*line >= '0' && *line <= '9') || (*line >= 'a' && *line <= 'f')) {
        close_vma();
        cur = Vma{};
        parse_header(line, &cur);
        open_vma = true;
        if (cur.start >= p1) {  // sorted by address: past the range
          open_vma = false;
          done = true;
          break;
        }
      } else if (!open_vma) {
        continue;
      } else if (uint64_t kb = proc_field_value(line, "Rss:"); kb != ~0ull) {
        cur.rss_kb = kb;
      } else if (uint64_t kb2 = proc_field_value(line, "Shared_Hugetlb:"); kb2 != ~0ull) {
        cur.hugetlb_kb += kb2;
      } else if (uint64_t kb3 = proc_field_value(line, "Private_Hugetlb:"); kb3 != ~0ull) {
        cur.hugetlb_kb += kb3;
      } else if (starts(line, "VmFlags:")) {
        parse_vmflags(line + 8, &cur);
      }
    }
    memmove(buf, buf + pos, have - pos);
    have -= pos;
    if (have == sizeof buf) have = 0;  // a line longer than the buffer (a long path): drop it
  }
  close_vma();
  close(fd);
  if (!ok || n == 0) return false;
  // Contiguous cover of [p0, p1).
  if (out[0].start > p0 || out[n - 1].end < p1) return false;
  for (int i = 1; i < n; ++i)
    if (out[i].start != out[i - 1].end) return false;
  *count = n;
  return true;
}

// Whether advising shared memory can matter: the kernel has shmem THP and
// does not deny it everywhere (read once). Which mappings then get huge pages
// is the kernel's call: shmem_enabled governs the internal mount (memfd,
// SysV, shared anonymous), each tmpfs mount's huge= option its own files
// (/dev/shm: huge=advise takes the advice). Where neither allows it the
// advice has no effect, so it is given whenever this holds.
bool shmem_huge_allowed() {
  static int cached = -1;  // -1 unknown, 0 no, 1 yes; a race only reads the file twice
  int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
  if (v < 0) {
    char buf[128];
    v = read_text_file("/sys/kernel/mm/transparent_hugepage/shmem_enabled", buf, sizeof buf) > 0 &&
                !strstr(buf, "[deny]")
            ? 1
            : 0;
    __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
  }
  return v == 1;
}

// Whether the VMA's part [a, b) is resident: its Rss when the range covers
// the whole mapping, else mincore over the part.
bool resident(const Vma& v, uintptr_t a, uintptr_t b) {
  if (a <= v.start && b >= v.end) return (v.rss_kb + v.hugetlb_kb) * 1024 >= v.end - v.start;
  return range_resident(a, b - a);
}

// Ranges to populate, merged where adjacent.
struct Pending {
  uintptr_t a = 0, b = 0;
  uint64_t total = 0;
  unsigned threads;
  bool write;
  void add(uintptr_t x, uintptr_t y) {
    if (b == x && b) {
      b = y;
      return;
    }
    flush();
    a = x;
    b = y;
  }
  void flush() {
    if (b > a) {
      populate_existing(a, b - a, threads, write);
      total += b - a;
    }
    a = b = 0;
  }
};

}  // namespace

void cuda_prepare_registration(const void* p, size_t size, unsigned flags, PrepareNodeFn node_of,
                               const void* ctx, Preparation* out) {
  *out = Preparation{};
  if (g_options.disable || !g_options.prepare) return;
  out->outcome = PrepareOutcome::untouched;
  uintptr_t p0 = round_down(as_addr(p), kBasePage), end = as_addr(p) + size;
  uintptr_t p1 = round_up(end, kBasePage);
  if (!p || size == 0 || end < as_addr(p) || p1 < end) return;
  if (flags & kRegisterIoMemory) return;  // device memory: the driver maps it, nothing to fault

  const bool read_only = (flags & kRegisterReadOnly) != 0;
  Vma vmas[kMaxVmas];
  int n = 0;
  if (!read_vmas(p0, p1, read_only, vmas, &n)) return;
  for (int i = 0; i < n; ++i)
    if (vmas[i].kind == Kind::untouchable) return;

  int saved = errno;
  Pending todo;
  todo.threads = g_options.prefault_threads;
  todo.write = !read_only;
  bool node_asked = false;
  int32_t node = -1;
  for (int i = 0; i < n; ++i) {
    const Vma& v = vmas[i];
    uintptr_t a = v.start > p0 ? v.start : p0, b = v.end < p1 ? v.end : p1;
    if (resident(v, a, b)) continue;
    uintptr_t ha = round_up(a, kPage2M), hb = round_down(b, kPage2M);
    bool huge_part = ha < hb && !v.flag_huge && !v.flag_nohuge;
    if (v.kind == Kind::anon) {
      if (huge_part && backing_thp_usable()) advise_hugepage(ha, hb - ha);
      // Bind only memory nobody placed: no policy on the mapping, none on the task.
      if (memory_policy_mode(a) == MPOL_DEFAULT && memory_policy_mode(0) == MPOL_DEFAULT) {
        if (!node_asked && node_of) node = node_of(ctx);
        node_asked = true;
        if (node != -1 && backing_bind(a, b - a, node) == 0) out->node = node;
      }
    } else if (v.kind == Kind::shmem) {
      if (huge_part && shmem_huge_allowed()) advise_hugepage(ha, hb - ha);
    }
    todo.add(a, b);
  }
  todo.flush();
  errno = saved;
  out->populated = todo.total;
  out->outcome = todo.total ? PrepareOutcome::prepared : PrepareOutcome::resident;
}

}  // namespace hugeshim
