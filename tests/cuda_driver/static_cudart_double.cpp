#include "static_cudart_double.h"

#include <dlfcn.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>

#include "libcuda_double.h"

namespace {

constexpr size_t kMiB = 1 << 20;

using InitFn = int (*)(unsigned);
using GetProcFn = int (*)(const char*, void**, int, uint64_t, int*);
using HostAllocFn = int (*)(void**, size_t, unsigned);
using AllocHostFn = int (*)(void**, size_t);
using AllocHostV1Fn = int (*)(void**, unsigned);
using FreeHostFn = int (*)(void*);
using RegisterFn = int (*)(void*, size_t, unsigned);
using UnregisterFn = int (*)(void*);

struct Driver {
  InitFn init = nullptr;
  HostAllocFn host_alloc = nullptr;
  AllocHostFn alloc_host = nullptr;
  AllocHostV1Fn alloc_host_v1 = nullptr;
  FreeHostFn free_host = nullptr;
  RegisterFn host_register = nullptr;
  UnregisterFn host_unregister = nullptr;
};

uint64_t (*g_last_size)() = nullptr;

// The way cudart does it: one cuGetProcAddress found by dlsym, everything
// else asked of it (itself included) with the runtime's CUDA version.
bool by_get_proc_address(void* driver, Driver* d) {
  auto first = reinterpret_cast<GetProcFn>(dlsym(driver, "cuGetProcAddress_v2"));
  if (!first) return false;
  GetProcFn gpa = nullptr;
  int status = -1;
  if (first("cuGetProcAddress", reinterpret_cast<void**>(&gpa), 12000, 0, &status) != 0) return false;
  void* unknown = reinterpret_cast<void*>(1);
  int rc = gpa("cuNoSuchEntryPoint", &unknown, 12000, 0, &status);
  printf("getproc_unknown rc=%d status=%d null=%d\n", rc, status, unknown == nullptr);
  auto get = [&](const char* name, int version, auto* out) {
    return gpa(name, reinterpret_cast<void**>(out), version, 0, &status) == 0;
  };
  return get("cuInit", 12000, &d->init) && get("cuMemHostAlloc", 12000, &d->host_alloc) &&
         get("cuMemAllocHost", 12000, &d->alloc_host) &&
         get("cuMemAllocHost", 3000, &d->alloc_host_v1) &&
         get("cuMemFreeHost", 12000, &d->free_host) &&
         get("cuMemHostRegister", 12000, &d->host_register) &&
         get("cuMemHostUnregister", 12000, &d->host_unregister);
}

bool by_dlsym(void* driver, Driver* d) {
  auto get = [&](const char* name, auto* out) {
    *reinterpret_cast<void**>(out) = dlsym(driver, name);
    return *out != nullptr;
  };
  return get("cuInit", &d->init) && get("cuMemHostAlloc", &d->host_alloc) &&
         get("cuMemAllocHost_v2", &d->alloc_host) && get("cuMemAllocHost", &d->alloc_host_v1) &&
         get("cuMemFreeHost", &d->free_host) && get("cuMemHostRegister_v2", &d->host_register) &&
         get("cuMemHostUnregister", &d->host_unregister);
}

bool in_driver(void* f) {
  Dl_info info;
  return dladdr(f, &info) && strstr(info.dli_fname, "libcuda_double.so") != nullptr;
}

void line(const char* step, int rc, bool seen = false, void* ptr = nullptr) {
  printf("%s rc=%d", step, rc);
  if (seen) printf(" seen=%llu", static_cast<unsigned long long>(g_last_size()));
  if (ptr) printf(" ptr=%p", ptr);
  printf("\n");
}

// Writes and reads back a pattern: the memory handed out is usable.
bool round_trip(void* p, size_t bytes) {
  auto* b = static_cast<unsigned char*>(p);
  for (size_t i = 0; i < bytes; i += 4096) b[i] = static_cast<unsigned char>(i >> 12);
  for (size_t i = 0; i < bytes; i += 4096)
    if (b[i] != static_cast<unsigned char>(i >> 12)) return false;
  return true;
}

}  // namespace

extern "C" int static_cudart_double_run(const char* libcuda_path, const char* how) {
  void* driver = dlopen(libcuda_path, RTLD_NOW | RTLD_LOCAL);
  if (!driver) return 1;
  g_last_size = reinterpret_cast<uint64_t (*)()>(dlsym(driver, "libcuda_double_last_size"));
  Driver d;
  if (!g_last_size || !(strcmp(how, "getproc") == 0 ? by_get_proc_address(driver, &d) : by_dlsym(driver, &d)))
    return 1;

  void* p = nullptr;
  line("alloc_before_init", d.host_alloc(&p, 8 * kMiB, 0), true);
  line("init", d.init(0));
  int rc = d.host_alloc(&p, 8 * kMiB, 0);
  line("host_alloc", rc, true, p);
  printf("round_trip ok=%d\n", rc == 0 && round_trip(p, 8 * kMiB));
  rc = d.free_host(p);
  line("free_host", rc, false, p);
  rc = d.host_alloc(&p, 8 * kMiB, 0x4);
  line("host_alloc_wc", rc, true, p);
  rc = d.free_host(p);
  line("free_host", rc, false, p);
  line("host_alloc_small", d.host_alloc(&p, 64 * 1024, 0), true);
  line("free_host_small", d.free_host(p));
  line("host_alloc_bad_flags", d.host_alloc(&p, 8 * kMiB, 0x100), true);
  rc = d.alloc_host(&p, 12 * kMiB);
  line("alloc_host", rc, true, p);
  rc = d.free_host(p);
  line("free_host", rc, false, p);
  rc = d.alloc_host_v1(&p, 6 * kMiB);
  line("alloc_host_v1", rc, true, p);
  rc = d.free_host(p);
  line("free_host", rc, false, p);

  // Foreign memory registered by the program (raw syscall: no interposer).
  const size_t n = 16 * kMiB;
  void* q = reinterpret_cast<void*>(
      syscall(SYS_mmap, 0, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  rc = d.host_register(q, n, 0);
  line("host_register", rc, true, q);
  line("host_register_again", d.host_register(q, n, 0), true);
  rc = d.host_unregister(q);
  line("host_unregister", rc, false, q);
  line("host_unregister_again", d.host_unregister(q));
  int bogus;
  line("free_host_bogus", d.free_host(&bogus));
  syscall(SYS_munmap, q, n);

  void* entry_points[] = {reinterpret_cast<void*>(d.host_alloc), reinterpret_cast<void*>(d.alloc_host),
                          reinterpret_cast<void*>(d.alloc_host_v1), reinterpret_cast<void*>(d.free_host),
                          reinterpret_cast<void*>(d.host_register),
                          reinterpret_cast<void*>(d.host_unregister)};
  int wrapped = 0;
  for (void* f : entry_points) wrapped += !in_driver(f);
  printf("wrapped=%d init_wrapped=%d\n", wrapped, !in_driver(reinterpret_cast<void*>(d.init)));
  fflush(stdout);
  return 0;
}
