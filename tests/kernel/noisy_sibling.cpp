// noisy_sibling [ROUNDS]: faults pages in a loop (map 4 MiB of base pages,
// touch each, unmap) until killed, or ROUNDS times, printing its pid first:
// a process beside a `--kernel` recording whose events must not be
// recorded, or (with ROUNDS) a burst of 1024 user faults per round.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  const long rounds = argc > 1 ? atol(argv[1]) : -1;
  printf("%d\n", getpid());
  fflush(stdout);
  for (long round = 0; round != rounds; ++round) {
    const size_t len = size_t{4} << 20;
    char* p = static_cast<char*>(mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (p == MAP_FAILED || madvise(p, len, MADV_NOHUGEPAGE) != 0) return 1;
    for (size_t at = 0; at < len; at += 4096) p[at] = 1;
    munmap(p, len);
  }
  return 0;
}
