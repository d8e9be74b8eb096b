// Cost of dlsym per call: RTLD_DEFAULT, RTLD_NEXT, an ordinary handle, and
// the driver double's handle with a "cu" name that is not wrapped and with
// one that is. Run with and without the shim preloaded:
//   build/bin/dlsym_bench; LD_PRELOAD=build/lib/libhugeshim.so build/bin/dlsym_bench
// Prints "<case> <median ns per call over 9 runs>".
#include <dlfcn.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <vector>

namespace {

double now_ns() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

double median_ns(void* handle, const char* name) {
  constexpr int kCalls = 100000, kRuns = 9;
  std::vector<double> runs;
  for (int r = 0; r < kRuns; ++r) {
    double t0 = now_ns();
    for (int i = 0; i < kCalls; ++i) {
      void* volatile p = dlsym(handle, name);
      (void)p;
    }
    runs.push_back((now_ns() - t0) / kCalls);
  }
  std::sort(runs.begin(), runs.end());
  return runs[kRuns / 2];
}

}  // namespace

int main() {
  void* libm = dlopen("libm.so.6", RTLD_NOW);
  void* driver = dlopen(LIBCUDA_DOUBLE_PATH, RTLD_NOW | RTLD_LOCAL);
  if (!libm || !driver) return 1;
  printf("default_puts %.1f\n", median_ns(RTLD_DEFAULT, "puts"));
  printf("next_puts %.1f\n", median_ns(RTLD_NEXT, "puts"));
  printf("handle_libm_cos %.1f\n", median_ns(libm, "cos"));
  printf("handle_driver_cuInit %.1f\n", median_ns(driver, "cuInit"));
  printf("handle_driver_cuMemHostAlloc %.1f\n", median_ns(driver, "cuMemHostAlloc"));
  return 0;
}
