// Cost of dlsym per call: RTLD_DEFAULT, RTLD_NEXT, an ordinary handle, and
// the driver double's handle with a "cu" name that is not wrapped and with
// one that is. Each case is timed through the exported `dlsym` (the shim's
// trampoline when preloaded) and through libc's dlsym called directly, in
// alternating runs of the same process, so the difference is the
// trampoline's alone (a longer global scope under LD_PRELOAD costs both).
//   build/bin/dlsym_bench; LD_PRELOAD=build/lib/libhugeshim.so build/bin/dlsym_bench
// Prints "<case> <dlsym ns> <libc dlsym ns>": medians of 15 runs of 50000 calls.
#include <dlfcn.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <vector>

namespace {

using DlsymFn = void* (*)(void*, const char*);

double now_ns() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

double run_ns(DlsymFn f, void* handle, const char* name) {
  constexpr int kCalls = 50000;
  double t0 = now_ns();
  for (int i = 0; i < kCalls; ++i) {
    void* volatile p = f(handle, name);
    (void)p;
  }
  return (now_ns() - t0) / kCalls;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void measure(const char* label, DlsymFn libc_dlsym, void* handle, const char* name) {
  constexpr int kRuns = 15;
  std::vector<double> exported, direct;
  for (int r = 0; r < kRuns; ++r) {
    exported.push_back(run_ns(&dlsym, handle, name));
    direct.push_back(run_ns(libc_dlsym, handle, name));
  }
  printf("%s %.1f %.1f\n", label, median(exported), median(direct));
}

}  // namespace

int main() {
  void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  void* libm = dlopen("libm.so.6", RTLD_NOW);
  void* driver = dlopen(LIBCUDA_DOUBLE_PATH, RTLD_NOW | RTLD_LOCAL);
  auto libc_dlsym = reinterpret_cast<DlsymFn>(dlvsym(libc, "dlsym", "GLIBC_2.34"));
  if (!libm || !driver || !libc_dlsym) return 1;
  measure("default_puts", libc_dlsym, RTLD_DEFAULT, "puts");
  // RTLD_NEXT from here: called directly, libc's dlsym sees this program as
  // the caller either way, so both columns answer the same lookup.
  measure("next_puts", libc_dlsym, RTLD_NEXT, "puts");
  measure("handle_libm_cos", libc_dlsym, libm, "cos");
  measure("handle_driver_cuInit", libc_dlsym, driver, "cuInit");
  measure("handle_driver_cuMemHostAlloc", libc_dlsym, driver, "cuMemHostAlloc");
  return 0;
}
