// hugeshim-bench-malloc small THREADS ITERATIONS
//   each thread: malloc(n)/free of sizes 16..4096 in a fixed cycle; prints ns per pair.
// hugeshim-bench-malloc large COUNT SIZE_MIB
//   COUNT x malloc(SIZE) + memset + free; prints seconds.
// Run side by side with and without LD_PRELOAD by tools/bench-malloc/run.sh.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vector>

namespace {

double now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

long g_iterations = 0;

void* small_worker(void*) {
  static const size_t sizes[] = {16, 48, 128, 256, 1024, 4096, 32, 512};
  void* keep[8] = {};
  for (long i = 0; i < g_iterations; ++i) {
    size_t n = sizes[i & 7];
    void* p = malloc(n);
    // Keep a few blocks alive so the pattern is not a single-slot ping-pong.
    free(keep[i & 7]);
    keep[i & 7] = p;
    asm volatile("" : : "r"(p) : "memory");
  }
  for (void* p : keep) free(p);
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && !strcmp(argv[1], "small")) {
    int threads = atoi(argv[2]);
    g_iterations = atol(argv[3]);
    std::vector<pthread_t> tids(static_cast<size_t>(threads));
    double t0 = now();
    for (auto& t : tids) pthread_create(&t, nullptr, small_worker, nullptr);
    for (auto& t : tids) pthread_join(t, nullptr);
    double t1 = now();
    printf("%.2f\n", (t1 - t0) * 1e9 / static_cast<double>(g_iterations));
    return 0;
  }
  if (argc == 4 && !strcmp(argv[1], "large")) {
    int count = atoi(argv[2]);
    size_t size = static_cast<size_t>(atol(argv[3])) << 20;
    double t0 = now();
    for (int i = 0; i < count; ++i) {
      void* p = malloc(size);
      if (!p) return 1;
      memset(p, i, size);
      // Keep the compiler from eliding the malloc/memset/free triple.
      asm volatile("" : : "r"(p) : "memory");
      free(p);
    }
    printf("%.3f\n", now() - t0);
    return 0;
  }
  fprintf(stderr, "usage: hugeshim-bench-malloc small THREADS ITERATIONS | large COUNT SIZE_MIB\n");
  return 2;
}
