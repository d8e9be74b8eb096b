// A CUDA program for the tests, driven by commands on stdin (one per line,
// one answer line each). Built twice: against the runtime test double (with
// a CUDA 12 caller library beside it) and, when the toolkit is installed,
// against the real libcudart.so.13 (CUDA_APP_REAL: no double controls).
//
//   alloc SIZE FLAGS | mallochost SIZE | free | flags | devptr | lasterror
//   malloc SIZE | release | mmap SIZE | register SIZE FLAGS | unregister
//                                   (on "last"; release = free(last))
//   advance BYTES                   last += BYTES (may be negative)
//   write SIZE | check SIZE        pattern through the last pointer
//   alloc12 SIZE FLAGS | free12 | flags12      via the CUDA 12 caller
//   fail_register NTH ERR | no_device ERR | calls | calls12   (double only)
//   pagekb                          KernelPageSize of the last pointer
//   hpfree                          HugePages_Free from /proc/meminfo
//   shm SIZE RO      MAP_SHARED map of the file $CUDA_APP_SHM (created and
//                    sized when new; RO=1: filled with the write pattern
//                    through pwrite when new, mapped PROT_READ)
//   file SIZE        MAP_SHARED map of the regular file $CUDA_APP_FILE (sparse)
//   thp SIZE         anonymous map, 2 MiB-aligned, MADV_HUGEPAGE
//   romap SIZE       anonymous PROT_READ map
//   view             what the double's last register found (range_view.h)
//   tregister SIZE FLAGS   register, timed: the whole call and the time inside the double
//   register12 SIZE FLAGS | lasterror12 | view12     the same through the CUDA 12 caller
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/mman.h>
#include <ctime>

#include "app_maps.h"

#ifndef CUDA_APP_REAL
#include "cudart_double.h"
#include "range_view.h"
#endif

extern "C" {
int cudaHostAlloc(void** ptr, size_t size, unsigned int flags);
int cudaMallocHost(void** ptr, size_t size);
int cudaFreeHost(void* ptr);
int cudaHostRegister(void* ptr, size_t size, unsigned int flags);
int cudaHostUnregister(void* ptr);
int cudaHostGetFlags(unsigned int* flags, void* ptr);
int cudaHostGetDevicePointer(void** device, void* host, unsigned int flags);
int cudaGetLastError(void);
#ifndef CUDA_APP_REAL
int caller12_host_alloc(void** ptr, size_t size, unsigned flags);
int caller12_free_host(void* ptr);
int caller12_host_get_flags(unsigned* flags, void* ptr);
size_t caller12_calls(cudart_double_call* out, size_t max);
int caller12_host_register(void* ptr, size_t size, unsigned flags);
int caller12_get_last_error();
void caller12_last_view(range_view* out);
#endif
}

namespace {

void* last = reinterpret_cast<void*>(0x1234);  // sentinel: calls must not write it on failure

long page_kb(const void* p) {
  FILE* f = fopen("/proc/self/smaps", "r");
  if (!f) return -1;
  char line[512];
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  bool inside = false;
  long kb = -1;
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
      inside = a >= lo && a < hi;
    } else if (inside && sscanf(line, "KernelPageSize: %ld kB", &kb) == 1) {
      break;
    }
  }
  fclose(f);
  return kb;
}

#ifndef CUDA_APP_REAL
void print_calls(size_t (*calls)(cudart_double_call*, size_t)) {
  static cudart_double_call log[4096];
  size_t n = calls(log, 4096);
  std::string out = "calls";
  char item[128];
  for (size_t i = 0; i < n; ++i) {
    snprintf(item, sizeof item, " %d:%#lx:%zu:%u:%d", log[i].op, static_cast<unsigned long>(log[i].ptr),
             log[i].size, log[i].flags, log[i].result);
    out += item;
  }
  printf("%s\n", out.c_str());
}
#endif

}  // namespace

int main() {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  char line[256];
  while (fgets(line, sizeof line, stdin)) {
    char cmd[32] = {};
    unsigned long long a = 0, b = 0;
    int n = sscanf(line, "%31s %lli %lli", cmd, &a, &b);
    if (n < 1) continue;
    std::string c = cmd;
    int rc = 0;
    if (c == "alloc") {
      rc = cudaHostAlloc(&last, a, static_cast<unsigned>(b));
      printf("rc=%d ptr=%p\n", rc, last);
    } else if (c == "mallochost") {
      rc = cudaMallocHost(&last, a);
      printf("rc=%d ptr=%p\n", rc, last);
    } else if (c == "free") {
      printf("rc=%d\n", cudaFreeHost(last));
    } else if (c == "flags") {
      unsigned f = 77;
      rc = cudaHostGetFlags(&f, last);
      printf("rc=%d flags=%u\n", rc, f);
    } else if (c == "devptr") {
      void* d = nullptr;
      rc = cudaHostGetDevicePointer(&d, last, 0);
      printf("rc=%d same=%d\n", rc, d == last);
    } else if (c == "lasterror") {
      printf("rc=%d\n", cudaGetLastError());
    } else if (c == "malloc") {
      last = malloc(a);
      printf("ptr=%p\n", last);
    } else if (c == "release") {
      free(last);
      printf("ok\n");
    } else if (c == "mmap") {
      last = mmap(nullptr, a, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      printf("ptr=%p\n", last);
    } else if (c == "register") {
      printf("rc=%d\n", cudaHostRegister(last, a, static_cast<unsigned>(b)));
    } else if (c == "unregister") {
      printf("rc=%d\n", cudaHostUnregister(last));
    } else if (c == "advance") {
      last = static_cast<char*>(last) + static_cast<long long>(a);
      printf("ptr=%p\n", last);
    } else if (c == "write") {
      auto* w = static_cast<uint64_t*>(last);
      for (size_t i = 0; i < a / 8; ++i) w[i] = i * 0x9e3779b97f4a7c15ull;
      printf("ok\n");
    } else if (c == "check") {
      auto* w = static_cast<uint64_t*>(last);
      size_t bad = 0;
      for (size_t i = 0; i < a / 8; ++i) bad += w[i] != i * 0x9e3779b97f4a7c15ull;
      printf("bad=%zu\n", bad);
    } else if (c == "hpfree") {
      FILE* f = fopen("/proc/meminfo", "r");
      char l[128];
      long v = -1;
      while (f && fgets(l, sizeof l, f))
        if (sscanf(l, "HugePages_Free: %ld", &v) == 1) break;
      if (f) fclose(f);
      printf("hpfree=%ld\n", v);
    } else if (c == "shm") {
      last = app_maps::map_file(getenv("CUDA_APP_SHM"), a, b != 0);
      printf("ptr=%p\n", last);
    } else if (c == "file") {
      last = app_maps::map_file(getenv("CUDA_APP_FILE"), a, false);
      printf("ptr=%p\n", last);
    } else if (c == "thp") {
      last = app_maps::map_thp(a);
      printf("ptr=%p\n", last);
    } else if (c == "romap") {
      last = mmap(nullptr, a, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      printf("ptr=%p\n", last);
    } else if (c == "pagekb") {
      printf("kb=%ld\n", page_kb(last));
#ifndef CUDA_APP_REAL
    } else if (c == "alloc12") {
      rc = caller12_host_alloc(&last, a, static_cast<unsigned>(b));
      printf("rc=%d ptr=%p\n", rc, last);
    } else if (c == "free12") {
      printf("rc=%d\n", caller12_free_host(last));
    } else if (c == "flags12") {
      unsigned f = 77;
      rc = caller12_host_get_flags(&f, last);
      printf("rc=%d flags=%u\n", rc, f);
    } else if (c == "fail_register") {
      cudart_double_fail_register(static_cast<int>(a), static_cast<int>(b));
      printf("ok\n");
    } else if (c == "no_device") {
      cudart_double_no_device(static_cast<int>(a));
      printf("ok\n");
    } else if (c == "tregister") {
      timespec t0, t1;
      clock_gettime(CLOCK_MONOTONIC, &t0);
      rc = cudaHostRegister(last, a, static_cast<unsigned>(b));
      clock_gettime(CLOCK_MONOTONIC, &t1);
      long long call = (t1.tv_sec - t0.tv_sec) * 1000000000ll + (t1.tv_nsec - t0.tv_nsec);
      printf("rc=%d call_ns=%lld inside_ns=%llu\n", rc, call,
             static_cast<unsigned long long>(cudart_double_last_register_ns()));
    } else if (c == "register12") {
      printf("rc=%d\n", caller12_host_register(last, a, static_cast<unsigned>(b)));
    } else if (c == "lasterror12") {
      printf("rc=%d\n", caller12_get_last_error());
    } else if (c == "view" || c == "view12") {
      range_view v{};
      (c == "view" ? cudart_double_last_view : caller12_last_view)(&v);
      printf("resident=%lu pages=%lu rss_kb=%lu anon_kb=%lu huge_kb=%lu\n",
             static_cast<unsigned long>(v.resident), static_cast<unsigned long>(v.pages),
             static_cast<unsigned long>(v.rss_kb), static_cast<unsigned long>(v.anon_kb),
             static_cast<unsigned long>(v.huge_kb));
    } else if (c == "calls") {
      print_calls(cudart_double_calls);
    } else if (c == "calls12") {
      print_calls(caller12_calls);
#endif
    } else {
      printf("unknown %s\n", cmd);
    }
  }
  return 0;
}
