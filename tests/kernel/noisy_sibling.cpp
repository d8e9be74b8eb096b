// noisy_sibling: faults pages in a loop (map 4 MiB, touch, unmap) until
// killed, printing its pid first: a process beside a `--kernel` recording
// whose events must not be recorded.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>

int main() {
  printf("%d\n", getpid());
  fflush(stdout);
  for (;;) {
    const size_t len = size_t{4} << 20;
    char* p = static_cast<char*>(mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (p == MAP_FAILED) return 1;
    for (size_t at = 0; at < len; at += 4096) p[at] = 1;
    munmap(p, len);
  }
}
