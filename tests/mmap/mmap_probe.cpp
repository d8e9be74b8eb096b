// mmap_probe: a program driven over stdin, one command per line, that makes
// mmap-family calls on named addresses and answers in a form that does not
// depend on where mappings landed, so the same script run with and without
// the shim must give the same output. Answers are one line each.
//
//   map NAME SIZE r|rw|none [populate] [noreserve] [locked] [shared] [stack] [growsdown]
//       [fixed EXPR]
//                                                              -> "ok" | "err ERRNO"
//   trim NAME SRC SPAN ALIGN SIZE     -> "RC RC": keeps the ALIGN-aligned SIZE bytes inside the
//                                        SPAN-byte mapping at SRC, unmapping head and tail as
//                                        allocators do; NAME := the aligned start
//   mapfile NAME PATH SIZE OFF [private|shared]                -> "ok" | "err ERRNO" (PROT_READ)
//   set NAME EXPR                                              -> "ok"
//   munmap EXPR LEN | mprotect EXPR LEN r|rw|none | madvise EXPR LEN ADVICE
//                                                              -> "RC ERRNO"
//   mremap NAME EXPR OLD NEW [maymove] [fixed EXPR] [dontunmap]
//                                      -> "same" | "moved" | "at-fixed" | "err ERRNO"; NAME := result
//   fill EXPR LEN SEED                 -> "ok" (byte i = (i * 131 + SEED) & 255, i from EXPR)
//   sum EXPR LEN                       -> "HASH" (FNV-1a of the bytes)
//   read EXPR | write EXPR BYTE        -> "VALUE" | "ok" | "SIGSEGV"
//   mapped EXPR LEN                    -> "N" (pages mapped in the range, by mincore)
//   layout EXPR LEN                    -> "OFF-END PERMS ..." (from /proc/self/maps, runs of
//                                         equal permissions merged, offsets from EXPR)
//   addr EXPR                          -> hex address (for smaps checks, not for comparison)
//   fork EXPR LEN                      -> "CHILDSTATUS": a child sums the range, writes its first
//                                         byte, unmaps a piece cutting a 2 MiB page and re-sums;
//                                         exit 0 when each step answered as expected
//   threads N ITERS                    -> "ok" | "bad STEP": N threads each map, fill, cut,
//                                         protect, shrink and unmap ITERS mappings of 4-12 MiB
//
// EXPR: a number, NAME, NAME+N, NAME-N or up(NAME,ALIGN) (NAME rounded up to ALIGN);
// sizes accept K, M, G suffixes and sums (26M-4K).
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <map>
#include <string>
#include <vector>

namespace {

std::map<std::string, uintptr_t> g_names;
sigjmp_buf g_fault;

void on_fault(int) { siglongjmp(g_fault, 1); }

// A sum of terms like 26M-4K+1.
uint64_t size_of(const std::string& s) {
  const char* p = s.c_str();
  uint64_t total = 0;
  bool minus = false;
  while (*p) {
    char* end;
    uint64_t n = strtoull(p, &end, 0);
    switch (*end) {
      case 'K': n <<= 10, ++end; break;
      case 'M': n <<= 20, ++end; break;
      case 'G': n <<= 30, ++end; break;
      default: break;
    }
    total = minus ? total - n : total + n;
    if (*end != '+' && *end != '-') break;
    minus = *end == '-';
    p = end + 1;
  }
  return total;
}

uintptr_t eval(const std::string& e) {
  if (e.rfind("up(", 0) == 0) {
    auto comma = e.find(',');
    uintptr_t v = eval(e.substr(3, comma - 3));
    uint64_t a = size_of(e.substr(comma + 1, e.size() - comma - 2));
    return (v + a - 1) & ~(a - 1);
  }
  if (e[0] >= '0' && e[0] <= '9') return size_of(e);
  auto op = e.find_first_of("+-");
  if (op == std::string::npos) return g_names.at(e);
  uintptr_t base = g_names.at(e.substr(0, op));
  uint64_t off = size_of(e.substr(op + 1));
  return e[op] == '+' ? base + off : base - off;  // NAME-A+B reads as NAME-(A+B)
}

int prot_of(const std::string& s) {
  if (s == "r") return PROT_READ;
  if (s == "rw") return PROT_READ | PROT_WRITE;
  return PROT_NONE;
}

int advice_of(const std::string& s) {
  static const std::map<std::string, int> names = {
      {"dontneed", MADV_DONTNEED}, {"free", MADV_FREE},         {"willneed", MADV_WILLNEED},
      {"hugepage", MADV_HUGEPAGE}, {"nohugepage", MADV_NOHUGEPAGE}, {"dontfork", MADV_DONTFORK},
      {"random", MADV_RANDOM},     {"populate_read", 22},       {"populate_write", 23},
      {"wipeonfork", MADV_WIPEONFORK}, {"cold", MADV_COLD},     {"pageout", MADV_PAGEOUT}};
  return names.at(s);
}

uint64_t fnv(const unsigned char* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

std::string layout(uintptr_t lo, uintptr_t hi) {
  FILE* f = fopen("/proc/self/maps", "r");
  char line[512];
  std::string out;
  uintptr_t run_lo = 0, run_hi = 0;
  std::string run_perms;
  auto flush = [&] {
    if (run_hi > run_lo) {
      char buf[96];
      snprintf(buf, sizeof buf, "%s%lx-%lx %s", out.empty() ? "" : " ", static_cast<unsigned long>(run_lo - lo),
               static_cast<unsigned long>(run_hi - lo), run_perms.c_str());
      out += buf;
    }
  };
  while (fgets(line, sizeof line, f)) {
    unsigned long a, b;
    char perms[8];
    if (sscanf(line, "%lx-%lx %7s", &a, &b, perms) != 3) continue;
    if (b <= lo || a >= hi) continue;
    if (a < lo) a = lo;
    if (b > hi) b = hi;
    if (a == run_hi && run_perms == perms) {
      run_hi = b;
      continue;
    }
    flush();
    run_lo = a;
    run_hi = b;
    run_perms = perms;
  }
  flush();
  fclose(f);
  return out.empty() ? "none" : out;
}

// One thread of "threads": returns 0 or the number of the step that failed.
int churn(unsigned seed, int iters) {
  for (int i = 0; i < iters; ++i) {
    seed = seed * 1103515245u + 12345u;
    size_t len = (4u + (seed >> 16) % 9u) << 20;
    auto* p = static_cast<unsigned char*>(
        mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (p == MAP_FAILED) return 1;
    for (size_t off = 0; off < len; off += 4096) p[off] = static_cast<unsigned char>(off >> 12);
    size_t cut = (1u << 20) + 4096;  // inside the first 2 MiB page
    if (munmap(p + cut, 4096) != 0) return 2;
    if (p[cut - 4096] != static_cast<unsigned char>((cut - 4096) >> 12)) return 3;
    if (mprotect(p + (3u << 20) + 8192, 8192, PROT_READ) != 0) return 4;
    if (p[(3u << 20) + 8192] != static_cast<unsigned char>(((3u << 20) + 8192) >> 12)) return 5;
    void* q = mremap(p + cut + 4096, len - cut - 4096, (2u << 20) + 4096, 0);
    if (q != p + cut + 4096) return 6;
    size_t last = cut + 4096 + (2u << 20);  // the last page of the shrunk piece
    if (p[last] != static_cast<unsigned char>(last >> 12)) return 7;
    if (munmap(p, cut) != 0 || munmap(p + cut + 4096, (2u << 20) + 4096) != 0) return 8;
  }
  return 0;
}

}  // namespace

int main() {
  struct sigaction sa = {};
  sa.sa_handler = on_fault;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_NODEFER;
  sigaction(SIGSEGV, &sa, nullptr);
  sigaction(SIGBUS, &sa, nullptr);
  char line[1024];
  while (fgets(line, sizeof line, stdin)) {
    std::vector<std::string> w;
    for (char* t = strtok(line, " \t\n"); t; t = strtok(nullptr, " \t\n")) w.push_back(t);
    if (w.empty()) continue;
    const std::string& cmd = w[0];
    errno = 0;
    if (cmd == "map") {
      int prot = w.size() > 3 ? prot_of(w[3]) : PROT_READ | PROT_WRITE;
      int flags = MAP_ANONYMOUS;
      bool shared = false;
      void* at = nullptr;
      for (size_t i = 4; i < w.size(); ++i) {
        if (w[i] == "populate") flags |= MAP_POPULATE;
        if (w[i] == "noreserve") flags |= MAP_NORESERVE;
        if (w[i] == "locked") flags |= MAP_LOCKED;
        if (w[i] == "shared") shared = true;
        if (w[i] == "stack") flags |= MAP_STACK;
        if (w[i] == "growsdown") flags |= MAP_GROWSDOWN;
        if (w[i] == "fixed") {
          flags |= MAP_FIXED;
          at = reinterpret_cast<void*>(eval(w[++i]));
        }
      }
      flags |= shared ? MAP_SHARED : MAP_PRIVATE;
      void* p = mmap(at, size_of(w[2]), prot, flags, -1, 0);
      if (p == MAP_FAILED) printf("err %d\n", errno);
      else {
        g_names[w[1]] = reinterpret_cast<uintptr_t>(p);
        printf("ok\n");
      }
    } else if (cmd == "mapfile") {
      int fd = open(w[2].c_str(), O_RDONLY);
      int flags = w.size() > 5 && w[5] == "shared" ? MAP_SHARED : MAP_PRIVATE;
      void* p = fd < 0 ? MAP_FAILED
                       : mmap(nullptr, size_of(w[3]), PROT_READ, flags, fd, static_cast<off_t>(size_of(w[4])));
      if (fd >= 0) close(fd);
      if (p == MAP_FAILED) printf("err %d\n", errno);
      else {
        g_names[w[1]] = reinterpret_cast<uintptr_t>(p);
        printf("ok\n");
      }
    } else if (cmd == "trim") {
      uintptr_t src = eval(w[2]);
      uint64_t span = size_of(w[3]), align = size_of(w[4]), size = size_of(w[5]);
      uintptr_t start = (src + align - 1) & ~(align - 1);
      int head = start > src ? munmap(reinterpret_cast<void*>(src), start - src) : 0;
      int tail = src + span > start + size ? munmap(reinterpret_cast<void*>(start + size), src + span - start - size) : 0;
      g_names[w[1]] = start;
      printf("%d %d\n", head, tail);
    } else if (cmd == "set") {
      g_names[w[1]] = eval(w[2]);
      printf("ok\n");
    } else if (cmd == "munmap") {
      int rc = munmap(reinterpret_cast<void*>(eval(w[1])), size_of(w[2]));
      printf("%d %d\n", rc, rc ? errno : 0);
    } else if (cmd == "mprotect") {
      int rc = mprotect(reinterpret_cast<void*>(eval(w[1])), size_of(w[2]), prot_of(w[3]));
      printf("%d %d\n", rc, rc ? errno : 0);
    } else if (cmd == "madvise") {
      int rc = madvise(reinterpret_cast<void*>(eval(w[1])), size_of(w[2]), advice_of(w[3]));
      printf("%d %d\n", rc, rc ? errno : 0);
    } else if (cmd == "mremap") {
      uintptr_t old = eval(w[2]);
      int flags = 0;
      void* fixed = nullptr;
      for (size_t i = 5; i < w.size(); ++i) {
        if (w[i] == "maymove") flags |= MREMAP_MAYMOVE;
        if (w[i] == "dontunmap") flags |= MREMAP_DONTUNMAP;
        if (w[i] == "fixed") {
          flags |= MREMAP_FIXED;
          fixed = reinterpret_cast<void*>(eval(w[++i]));
        }
      }
      void* p = mremap(reinterpret_cast<void*>(old), size_of(w[3]), size_of(w[4]), flags, fixed);
      if (p == MAP_FAILED) printf("err %d\n", errno);
      else {
        g_names[w[1]] = reinterpret_cast<uintptr_t>(p);
        printf("%s\n", p == fixed ? "at-fixed" : reinterpret_cast<uintptr_t>(p) == old ? "same" : "moved");
      }
    } else if (cmd == "fill") {
      auto* p = reinterpret_cast<unsigned char*>(eval(w[1]));
      uint64_t n = size_of(w[2]);
      unsigned seed = static_cast<unsigned>(size_of(w[3]));
      for (uint64_t i = 0; i < n; ++i) p[i] = static_cast<unsigned char>(i * 131 + seed);
      printf("ok\n");
    } else if (cmd == "sum") {
      if (sigsetjmp(g_fault, 1)) printf("SIGSEGV\n");
      else printf("%016llx\n", static_cast<unsigned long long>(
                                   fnv(reinterpret_cast<unsigned char*>(eval(w[1])), size_of(w[2]))));
    } else if (cmd == "read") {
      volatile unsigned char* p = reinterpret_cast<unsigned char*>(eval(w[1]));
      if (sigsetjmp(g_fault, 1)) printf("SIGSEGV\n");
      else printf("%d\n", *p);
    } else if (cmd == "write") {
      volatile unsigned char* p = reinterpret_cast<unsigned char*>(eval(w[1]));
      if (sigsetjmp(g_fault, 1)) printf("SIGSEGV\n");
      else {
        *p = static_cast<unsigned char>(size_of(w[2]));
        printf("ok\n");
      }
    } else if (cmd == "mapped") {
      uintptr_t a = eval(w[1]);
      uint64_t n = size_of(w[2]), count = 0;
      unsigned char v;
      for (uint64_t off = 0; off < n; off += 4096)
        if (mincore(reinterpret_cast<void*>(a + off), 4096, &v) == 0) ++count;
      printf("%llu\n", static_cast<unsigned long long>(count));
    } else if (cmd == "layout") {
      uintptr_t a = eval(w[1]);
      printf("%s\n", layout(a, a + size_of(w[2])).c_str());
    } else if (cmd == "addr") {
      printf("%lx\n", static_cast<unsigned long>(eval(w[1])));
    } else if (cmd == "fork") {
      auto* p = reinterpret_cast<unsigned char*>(eval(w[1]));
      uint64_t n = size_of(w[2]);
      uint64_t before = fnv(p, n);
      fflush(stdout);
      pid_t pid = fork();
      if (pid == 0) {
        if (fnv(p, n) != before) _exit(1);
        p[0] = static_cast<unsigned char>(p[0] + 1);  // the child's private copy
        if (munmap(p + (1u << 20) + 4096, 4096) != 0) _exit(2);
        if (p[(1u << 20)] != reinterpret_cast<unsigned char*>(eval(w[1]))[(1u << 20)]) _exit(3);
        _exit(0);
      }
      int st = 0;
      waitpid(pid, &st, 0);
      printf("%d %s\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
             fnv(p, n) == before ? "parent-unchanged" : "parent-changed");
    } else if (cmd == "threads") {
      int n = static_cast<int>(size_of(w[1]));
      int iters = static_cast<int>(size_of(w[2]));
      std::atomic<int> bad{0};
      std::vector<std::thread> pool;
      for (int t = 0; t < n; ++t)
        pool.emplace_back([&, t] {
          int step = churn(static_cast<unsigned>(t) * 7919u + 1u, iters);
          if (step) bad = step;
        });
      for (auto& t : pool) t.join();
      if (bad) printf("bad %d\n", bad.load());
      else printf("ok\n");
    } else if (cmd == "quit") {
      return 0;
    } else {
      printf("unknown %s\n", cmd.c_str());
    }
    fflush(stdout);
  }
  return 0;
}
