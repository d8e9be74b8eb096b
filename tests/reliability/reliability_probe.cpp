// Programs for the reliability tests, one per subcommand, each printing one
// line ("ok ..." or what went wrong) and exiting 0 only when the behaviour
// matches glibc's without the shim. Run under the shim by reliability_test.
#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <malloc.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

constexpr size_t kMiB = size_t{1} << 20;

int fail(const char* what) {
  std::printf("FAIL %s (errno %d)\n", what, errno);
  return 1;
}

// Makes the stores to p visible before a free(): otherwise the compiler may
// drop a memset that only precedes free() as a dead store.
void keep_stores(void* p) { asm volatile("" : : "r"(p) : "memory"); }

bool all_bytes(const void* p, size_t n, unsigned char value) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i)
    if (b[i] != value) return false;
  return true;
}

// kB of locked memory of this process (VmLck in /proc/self/status).
long locked_kb() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmLck: %ld kB", &kb) == 1) break;
  std::fclose(f);
  return kb;
}

// realloc of a heap block past the threshold, and growth of a region, under
// HUGESHIM_ON_FALLBACK=fail when huge pages cannot be had: NULL with ENOMEM,
// the old block intact (argv: heap | region SIZE_MIB).
int realloc_refused(const std::string& kind, size_t grow_to) {
  size_t first = kind == "heap" ? 100 : 4 * kMiB;
  auto* p = static_cast<unsigned char*>(std::malloc(first));
  if (!p) return fail("first allocation");
  std::memset(p, 0x3c, first);
  errno = 0;
  void* q = std::realloc(p, grow_to);
  if (q) return fail("realloc succeeded without huge pages");
  if (errno != ENOMEM) return fail("errno is not ENOMEM");
  if (!all_bytes(p, first, 0x3c)) return fail("old block changed");
  std::free(p);
  std::printf("ok refused\n");
  return 0;
}

// calloc served from a cached region: every usable byte reads zero.
int calloc_over_cached() {
  const size_t first = 12 * kMiB;
  void* p = std::malloc(first);
  if (!p) return fail("malloc");
  std::memset(p, 0xab, malloc_usable_size(p));
  keep_stores(p);
  std::free(p);
  auto* q = static_cast<unsigned char*>(std::calloc(1, first - kMiB));
  if (!q) return fail("calloc");
  size_t usable = malloc_usable_size(q);
  if (!all_bytes(q, usable, 0)) return fail("calloc left stale bytes within malloc_usable_size");
  std::printf("ok %s usable %zu\n", q == p ? "reused" : "fresh", usable);
  std::free(q);
  return 0;
}

// madvise(MADV_DONTNEED / MADV_FREE) on locked shim memory (HUGESHIM_PIN=mlock)
// succeeds and the range reads zero afterwards, as on unlocked memory; the
// memory is locked again afterwards.
int dontneed_on_locked(int advice) {
  const size_t len = 8 * kMiB;
  auto* p = static_cast<unsigned char*>(std::malloc(len));
  if (!p) return fail("malloc");
  void* m = mmap(nullptr, 16 * kMiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return fail("mmap");
  auto* q = static_cast<unsigned char*>(m);
  std::memset(p, 0x5a, len);
  std::memset(q, 0x5a, 16 * kMiB);
  long locked_before = locked_kb();
  if (madvise(p, len, advice) != 0) return fail("madvise on malloc memory");
  if (madvise(q, 16 * kMiB, advice) != 0) return fail("madvise on mmap memory");
  // MADV_FREE may keep the old bytes until memory pressure; DONTNEED must not.
  if (advice == MADV_DONTNEED && (!all_bytes(p, len, 0) || !all_bytes(q, 16 * kMiB, 0)))
    return fail("stale data after MADV_DONTNEED");
  long locked_after = locked_kb();
  std::printf("ok locked_kb %ld %ld\n", locked_before, locked_after);
  munmap(m, 16 * kMiB);
  std::free(p);
  return 0;
}

// A SIGALRM handler that frees large blocks while the interrupted thread
// keeps allocating and freeing large blocks itself (so it is often inside
// the shim, holding its lock). glibc completes this program.
std::atomic<void*> g_handoff{nullptr};
std::atomic<long> g_handler_frees{0};

void on_alarm(int) {
  int saved = errno;
  if (void* p = g_handoff.exchange(nullptr)) {
    std::free(p);
    g_handler_frees.fetch_add(1, std::memory_order_relaxed);
  }
  errno = saved;
}

int free_in_signal_handler(double seconds) {
  struct sigaction sa {};
  sa.sa_handler = on_alarm;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, nullptr);
  itimerval every{{0, 200}, {0, 200}};  // 200 us
  setitimer(ITIMER_REAL, &every, nullptr);
  timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  long rounds = 0;
  do {
    void* mine = std::malloc(8 * kMiB);
    void* other = std::malloc(6 * kMiB);
    if (!mine || !other) return fail("malloc");
    static_cast<char*>(mine)[0] = 1;
    if (void* old = g_handoff.exchange(other)) std::free(old);
    std::free(mine);
    ++rounds;
    clock_gettime(CLOCK_MONOTONIC, &now);
  } while ((now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
  itimerval off{};
  setitimer(ITIMER_REAL, &off, nullptr);
  if (void* old = g_handoff.exchange(nullptr)) std::free(old);
  std::printf("ok rounds %ld handler_frees %ld\n", rounds, g_handler_frees.load());
  return 0;
}

// Large allocations, each written and freed: 2 * n large events.
int large_mallocs(long n) {
  for (long i = 0; i < n; ++i) {
    void* p = std::malloc(8 * kMiB);
    if (!p) return fail("malloc");
    static_cast<char*>(p)[0] = 1;
    std::free(p);
  }
  std::printf("ok events %ld\n", 2 * n);
  return 0;
}

// One recorded event, then the image ends without destructors: by exec
// (argv: exec) or by _exit (argv: _exit).
int record_then(const std::string& how) {
  void* p = std::malloc(8 * kMiB);
  if (!p) return fail("malloc");
  static_cast<char*>(p)[0] = 1;
  std::fflush(stdout);
  if (how == "exec") {
    execl("/bin/true", "true", static_cast<char*>(nullptr));
    return fail("exec");
  }
  _exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "realloc-refused" && argc == 4) return realloc_refused(argv[2], std::strtoul(argv[3], nullptr, 10) * kMiB);
  if (cmd == "calloc-cached") return calloc_over_cached();
  if (cmd == "dontneed-locked") return dontneed_on_locked(MADV_DONTNEED);
  if (cmd == "free-locked") return dontneed_on_locked(MADV_FREE);
  if (cmd == "free-in-handler" && argc == 3) return free_in_signal_handler(std::atof(argv[2]));
  if (cmd == "large-mallocs" && argc == 3) return large_mallocs(std::atol(argv[2]));
  if (cmd == "record-then" && argc == 3) return record_then(argv[2]);
  if (cmd == "sleep" && argc == 3) return sleep(static_cast<unsigned>(std::atoi(argv[2])));
  std::fprintf(stderr,
               "usage: reliability_probe realloc-refused heap|region MIB | calloc-cached | dontneed-locked | "
               "free-locked | free-in-handler SECONDS | large-mallocs N | record-then exec|_exit | sleep S\n");
  return 2;
}
