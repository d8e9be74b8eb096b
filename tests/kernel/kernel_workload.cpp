// kernel_workload: what `hugeshim run --kernel` is tested with. In order:
// a hugetlb populate (MAP_HUGETLB + MADV_POPULATE_WRITE, 8 MiB), a hugetlb
// region of 4 pages touched lazily by a second thread (one user fault per
// 2 MiB page), and a THP populate (MADV_HUGEPAGE + MADV_POPULATE_WRITE,
// 16 MiB). Prints "pid=P lazy_tid=T lazy=ADDR" on stdout; exits 1 when a
// step fails (a hugetlb pool too small, no MADV_POPULATE_WRITE).
// With --wait it first mallocs 8 MiB (under the shim: an event, so its
// ring appears), prints "ready" and waits for a line on stdin.
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace {

constexpr size_t kHuge = size_t{2} << 20;

void* map_hugetlb(size_t len) {
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "--wait") == 0) {
    void* first = malloc(size_t{8} << 20);
    printf("ready\n");
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof line, stdin)) return 1;
    free(first);
  }
  void* populated = map_hugetlb(4 * kHuge);
  if (!populated || madvise(populated, 4 * kHuge, MADV_POPULATE_WRITE) != 0) {
    perror("kernel_workload: hugetlb populate");
    return 1;
  }
  auto* lazy = static_cast<volatile char*>(map_hugetlb(4 * kHuge));
  if (!lazy) {
    perror("kernel_workload: hugetlb map");
    return 1;
  }
  long lazy_tid = 0;
  std::thread toucher([&] {
    lazy_tid = syscall(SYS_gettid);
    for (size_t at = 0; at < 4 * kHuge; at += 4096) lazy[at] = 1;  // faults only at each page's first touch
  });
  toucher.join();
  const size_t thp_len = 8 * kHuge;
  char* raw = static_cast<char*>(mmap(nullptr, thp_len + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  char* thp = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(raw) + kHuge - 1) & ~(kHuge - 1));
  if (raw == MAP_FAILED || madvise(thp, thp_len, MADV_HUGEPAGE) != 0 || madvise(thp, thp_len, MADV_POPULATE_WRITE) != 0) {
    perror("kernel_workload: THP populate");
    return 1;
  }
  printf("pid=%d lazy_tid=%ld lazy=%lu\n", getpid(), lazy_tid, static_cast<unsigned long>(reinterpret_cast<uintptr_t>(lazy)));
  return 0;
}
