#include "backing_run.h"

#include <fcntl.h>
#include <linux/mman.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

namespace hugeshim_bench {
namespace {

constexpr size_t k2M = size_t{2} << 20, k1G = size_t{1} << 30;

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string errno_text(const char* what) { return std::string(what) + ": " + strerror(errno); }

// Times populate, mlock and (with a GPU) cudaHostRegister of [p, p + len).
void populate_lock_register(void* p, size_t len, const CudaRuntime* cuda, Sample* s) {
  auto t0 = Clock::now();
  if (madvise(p, len, MADV_POPULATE_WRITE) != 0) {
    s->error = errno_text("MADV_POPULATE_WRITE");
    return;
  }
  s->seconds[kPopulate] = since(t0);
  s->huge_bytes = huge_bytes_of(p, len);
  t0 = Clock::now();
  if (mlock(p, len) != 0) {
    s->error = errno_text("mlock");
    return;
  }
  s->seconds[kLock] = since(t0);
  if (cuda && cuda->available()) {
    s->seconds[kRegister] = cuda->time_register(p, len);
    if (s->seconds[kRegister] < 0) s->error = "cudaHostRegister failed";
  }
  munlock(p, len);
}

}  // namespace

const char* backing_name(Backing b) {
  switch (b) {
    case Backing::base: return "base";
    case Backing::thp: return "thp";
    case Backing::hugetlb_2m: return "hugetlb-2M";
    case Backing::hugetlb_1g: return "hugetlb-1G";
    case Backing::shim: return "shim";
  }
  return "?";
}

const char* phase_name(int phase) {
  static const char* const names[kPhaseCount] = {"reserve", "populate", "mlock", "cudaHostRegister",
                                                 "cudaHostAlloc"};
  return phase >= 0 && phase < kPhaseCount ? names[phase] : "?";
}

uint64_t huge_bytes_of(const void* p, size_t len) {
  uintptr_t p0 = reinterpret_cast<uintptr_t>(p), p1 = p0 + len;
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  uintptr_t start = 0, end = 0;
  uint64_t page_kb = 4, huge = 0;
  auto overlap = [&] {
    uintptr_t lo = start > p0 ? start : p0, hi = end < p1 ? end : p1;
    return hi > lo ? hi - lo : 0;
  };
  while (std::getline(smaps, line)) {
    if (!line.empty() && isxdigit(static_cast<unsigned char>(line[0])) && line.find('-') != std::string::npos &&
        !isupper(static_cast<unsigned char>(line[0]))) {
      sscanf(line.c_str(), "%lx-%lx", &start, &end);
      if (start >= p1) break;
      continue;
    }
    unsigned long kb = 0;
    if (sscanf(line.c_str(), "KernelPageSize: %lu kB", &kb) == 1) {
      page_kb = kb;
      if (page_kb > 4) huge += overlap();
    } else if (page_kb == 4 && sscanf(line.c_str(), "AnonHugePages: %lu kB", &kb) == 1 && end > start) {
      huge += static_cast<uint64_t>((static_cast<__uint128_t>(kb) << 10) * overlap() / (end - start));
    }
  }
  return huge;
}

Sample measure_here(Backing b, size_t size, const CudaRuntime& cuda) {
  Sample s;
  size_t page = b == Backing::hugetlb_1g ? k1G : b == Backing::base ? 4096 : k2M;
  size_t len = (size + page - 1) / page * page;
  auto t0 = Clock::now();
  int flags = MAP_PRIVATE | MAP_ANONYMOUS;
  if (b == Backing::hugetlb_2m) flags |= MAP_HUGETLB | MAP_HUGE_2MB;
  if (b == Backing::hugetlb_1g) flags |= MAP_HUGETLB | MAP_HUGE_1GB;
  // THP needs a 2 MiB aligned range: map one page more and trim.
  size_t map_len = b == Backing::thp ? len + k2M : len;
  void* raw = mmap(nullptr, map_len, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (raw == MAP_FAILED) {
    s.error = errno_text("mmap");
    return s;
  }
  void* p = raw;
  if (b == Backing::thp) {
    uintptr_t r = reinterpret_cast<uintptr_t>(raw), a = (r + k2M - 1) & ~(k2M - 1);
    if (a > r) munmap(raw, a - r);
    if (r + map_len > a + len) munmap(reinterpret_cast<void*>(a + len), r + map_len - a - len);
    p = reinterpret_cast<void*>(a);
    madvise(p, len, MADV_HUGEPAGE);
  } else if (b == Backing::base) {
    madvise(p, len, MADV_NOHUGEPAGE);  // base pages whatever the THP mode
  }
  s.seconds[kReserve] = since(t0);
  populate_lock_register(p, len, &cuda, &s);
  munmap(p, len);
  if (b == Backing::base && cuda.available() && s.error.empty()) {
    s.seconds[kHostAlloc] = cuda.time_host_alloc(size);
    if (s.seconds[kHostAlloc] < 0) s.error = "cudaHostAlloc failed";
  }
  return s;
}

int shim_child(size_t size, bool with_cuda) {
  Sample s;
  auto t0 = Clock::now();
  void* p = malloc(size);
  if (!p) {
    printf("error=malloc failed\n");
    return 1;
  }
  s.seconds[kReserve] = since(t0);
  std::optional<CudaRuntime> loaded;  // cudart is loaded only when asked
  if (with_cuda) loaded.emplace();
  const CudaRuntime* cuda = loaded ? &*loaded : nullptr;
  // The shim returns whole pages from the start of a region; glibc's mmap
  // chunks start 16 bytes in: populate the pages the block covers.
  uintptr_t a = reinterpret_cast<uintptr_t>(p) & ~uintptr_t{4095};
  size_t len = (reinterpret_cast<uintptr_t>(p) + size - a + 4095) & ~size_t{4095};
  populate_lock_register(reinterpret_cast<void*>(a), len, cuda, &s);
  free(p);
  if (with_cuda && cuda->available() && s.error.empty()) s.seconds[kHostAlloc] = cuda->time_host_alloc(size);
  printf("huge=%llu", static_cast<unsigned long long>(s.huge_bytes));
  for (int ph = 0; ph < kPhaseCount; ++ph) printf(" %d=%.9f", ph, s.seconds[ph]);
  printf("\n");
  if (!s.error.empty()) printf("error=%s\n", s.error.c_str());
  return s.error.empty() ? 0 : 1;
}

Sample measure_shim(const std::string& self, const std::string& shim, size_t size, bool cuda) {
  Sample s;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    s.error = errno_text("pipe");
    return s;
  }
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    setenv("LD_PRELOAD", shim.c_str(), 1);
    setenv("HUGESHIM_RING", "off", 0);
    std::string sz = std::to_string(size);
    execl(self.c_str(), self.c_str(), "--child", sz.c_str(), cuda ? "cuda" : "nocuda", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("error=", 0) == 0) s.error = line.substr(6);
    unsigned long long huge = 0;
    if (sscanf(line.c_str(), "huge=%llu", &huge) == 1) {
      s.huge_bytes = huge;
      std::istringstream fields(line.substr(line.find(' ') + 1));
      std::string f;
      while (fields >> f) {
        int ph = -1;
        double v = -1;
        if (sscanf(f.c_str(), "%d=%lf", &ph, &v) == 2 && ph >= 0 && ph < kPhaseCount) s.seconds[ph] = v;
      }
    }
  }
  if (s.error.empty() && (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || s.seconds[kPopulate] < 0))
    s.error = "the shim child failed (status " + std::to_string(status) + ")";
  return s;
}

}  // namespace hugeshim_bench
