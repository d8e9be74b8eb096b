// A test double of the CUDA driver API: cuInit, cuGetProcAddress (4
// arguments, CUDA 11.3-12.x ABI) and cuGetProcAddress_v2 (5 arguments), and
// the pinned-memory entry points. Memory comes from raw mmap syscalls (so no
// interposer touches it) and mlock stands in for pinning. Error answers
// follow cuda.h: NOT_INITIALIZED before cuInit, INVALID_VALUE for bad
// arguments and unknown pointers, 712 for a registration overlapping
// another, 713 for unregistering what is not registered.
#include "libcuda_double.h"

#include "range_view.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

using namespace libcuda_double;

namespace {

struct Range {
  uintptr_t start = 0;
  size_t bytes = 0;
};

constexpr int kRanges = 64;
Range g_allocations[kRanges];
Range g_registrations[kRanges];
bool g_initialised = false;
uint64_t g_last_size = 0;
range_view g_last_view{};

void* map_anonymous(size_t bytes) {
  long p = syscall(SYS_mmap, 0, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == -1 ? nullptr : reinterpret_cast<void*>(p);
}

bool add(Range* table, uintptr_t start, size_t bytes) {
  for (int i = 0; i < kRanges; ++i)
    if (!table[i].start) {
      table[i] = {start, bytes};
      return true;
    }
  return false;
}

Range* find(Range* table, uintptr_t start) {
  for (int i = 0; i < kRanges; ++i)
    if (table[i].start && table[i].start == start) return &table[i];
  return nullptr;
}

int allocate(void** pp, size_t bytes, unsigned flags) {
  g_last_size = bytes;
  if (!g_initialised) return kNotInitialized;
  if (!pp || bytes == 0 || (flags & ~kHostAllocFlags)) return kInvalidValue;
  void* p = map_anonymous(bytes);
  if (!p) return kOutOfMemory;
  if (mlock(p, bytes) != 0 || !add(g_allocations, reinterpret_cast<uintptr_t>(p), bytes)) {
    syscall(SYS_munmap, p, bytes);
    return kOutOfMemory;
  }
  *pp = p;
  return kSuccess;
}

int register_range(void* p, size_t bytes, unsigned flags) {
  g_last_size = bytes;
  // What the registration finds on arrival, before the pin faults anything.
  if (p && bytes) g_last_view = take_range_view(p, bytes);
  if (!g_initialised) return kNotInitialized;
  if (!p || bytes == 0) return kInvalidValue;
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  for (const Range& r : g_registrations)
    if (r.start && a < r.start + r.bytes && r.start < a + bytes) return kHostMemoryAlreadyRegistered;
  if (mlock(p, bytes) != 0) return kOutOfMemory;
  if (!add(g_registrations, a, bytes)) {
    munlock(p, bytes);
    return kOutOfMemory;
  }
  return kSuccess;
}

}  // namespace

#define DOUBLE_EXPORT extern "C" __attribute__((visibility("default")))

DOUBLE_EXPORT uint64_t libcuda_double_last_size() { return g_last_size; }
DOUBLE_EXPORT void libcuda_double_last_view(range_view* out) { *out = g_last_view; }

DOUBLE_EXPORT int cuInit(unsigned flags) {
  if (flags != 0) return kInvalidValue;
  g_initialised = true;
  return kSuccess;
}

DOUBLE_EXPORT int cuMemHostAlloc(void** pp, size_t bytes, unsigned flags) {
  return allocate(pp, bytes, flags);
}

DOUBLE_EXPORT int cuMemAllocHost(void** pp, unsigned bytes) { return allocate(pp, bytes, 0); }

DOUBLE_EXPORT int cuMemAllocHost_v2(void** pp, size_t bytes) { return allocate(pp, bytes, 0); }

DOUBLE_EXPORT int cuMemFreeHost(void* p) {
  if (!g_initialised) return kNotInitialized;
  Range* r = find(g_allocations, reinterpret_cast<uintptr_t>(p));
  if (!r) return kInvalidValue;
  munlock(p, r->bytes);
  syscall(SYS_munmap, p, r->bytes);
  *r = Range{};
  return kSuccess;
}

DOUBLE_EXPORT int cuMemHostRegister(void* p, size_t bytes, unsigned flags) {
  return register_range(p, bytes, flags);
}

DOUBLE_EXPORT int cuMemHostRegister_v2(void* p, size_t bytes, unsigned flags) {
  return register_range(p, bytes, flags);
}

DOUBLE_EXPORT int cuMemHostUnregister(void* p) {
  if (!g_initialised) return kNotInitialized;
  Range* r = find(g_registrations, reinterpret_cast<uintptr_t>(p));
  if (!r) return kHostMemoryNotRegistered;
  munlock(p, r->bytes);
  *r = Range{};
  return kSuccess;
}

DOUBLE_EXPORT int cuGetProcAddress_v2(const char* symbol, void** pfn, int cuda_version,
                                      uint64_t flags, int* status);

DOUBLE_EXPORT int cuGetProcAddress(const char* symbol, void** pfn, int cuda_version,
                                   uint64_t flags) {
  return cuGetProcAddress_v2(symbol, pfn, cuda_version, flags, nullptr);
}

// Base names, versioned by cudaVersion as the real driver does.
DOUBLE_EXPORT int cuGetProcAddress_v2(const char* symbol, void** pfn, int cuda_version,
                                      uint64_t flags, int* status) {
  if (!symbol || !pfn) return kInvalidValue;
  void* f = nullptr;
  if (!strcmp(symbol, "cuInit")) f = reinterpret_cast<void*>(&cuInit);
  else if (!strcmp(symbol, "cuGetProcAddress"))
    f = cuda_version >= 12000 ? reinterpret_cast<void*>(&cuGetProcAddress_v2)
                              : reinterpret_cast<void*>(&cuGetProcAddress);
  else if (!strcmp(symbol, "cuMemHostAlloc")) f = reinterpret_cast<void*>(&cuMemHostAlloc);
  else if (!strcmp(symbol, "cuMemAllocHost"))
    f = cuda_version >= 3020 ? reinterpret_cast<void*>(&cuMemAllocHost_v2)
                             : reinterpret_cast<void*>(&cuMemAllocHost);
  else if (!strcmp(symbol, "cuMemHostRegister"))
    f = cuda_version >= 6050 ? reinterpret_cast<void*>(&cuMemHostRegister_v2)
                             : reinterpret_cast<void*>(&cuMemHostRegister);
  else if (!strcmp(symbol, "cuMemHostUnregister")) f = reinterpret_cast<void*>(&cuMemHostUnregister);
  else if (!strcmp(symbol, "cuMemFreeHost")) f = reinterpret_cast<void*>(&cuMemFreeHost);
  *pfn = f;
  if (status) *status = f ? 0 : 1;  // CU_GET_PROC_ADDRESS_SUCCESS / _SYMBOL_NOT_FOUND
  return f ? kSuccess : kNotFound;
}
