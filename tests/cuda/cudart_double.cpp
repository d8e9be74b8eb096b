// A test double of the CUDA runtime's pinned-memory API, compiled once per
// major version (CUDART_DOUBLE_MAJOR) into a library with cudart's soname
// and symbol version (cudart_double.map.in), so programs link against it
// exactly as against the real libcudart.so.N. Pinned memory is imitated with
// mlock; every call is recorded for the tests to inspect.
//
// Semantics follow the real runtime where tests depend on them (measured on
// an H200, driver 580.159.04, where noted): overlapping registrations fail
// with 712; cudaHostRegister and cudaHostUnregister of cudaHostAlloc memory
// fail with 1 (measured); unregistering an unknown pointer fails with 713;
// cudaHostGetFlags works only on cudaHostAlloc memory and reports Mapped
// whatever was asked (unified addressing; measured for flags 0); errors are
// remembered for cudaGetLastError (which clears them) and
// cudaPeekAtLastError.
#include "cudart_double.h"

#include "range_view.h"

#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <sys/mman.h>

namespace {

using cudaError_t = int;
constexpr cudaError_t kSuccess = 0, kInvalidValue = 1, kMemoryAllocation = 2;
constexpr cudaError_t kAlreadyRegistered = 712, kNotRegistered = 713;
constexpr cudaError_t kNotSupported = 801;
constexpr unsigned kRegisterMapped = 0x2;

struct Range {
  uintptr_t base = 0;
  size_t size = 0;
  unsigned flags = 0;
};

constexpr int kRanges = 256;
constexpr size_t kLog = 4096;

struct State {
  std::mutex lock;
  Range allocs[kRanges];
  Range registrations[kRanges];
  cudart_double_call log[kLog];
  size_t logged = 0;
  int fail_register_countdown = 0;
  int fail_register_error = 0;
  int no_device_error = 0;
  cudaError_t last_error = kSuccess;
  range_view last_view{};
  uint64_t last_register_ns = 0;  // time the last cudaHostRegister spent inside the double
  // CUDART_DOUBLE_REFUSE_REGISTER=1: every cudaHostRegister answers 801
  // (cudaErrorNotSupported), as in a Confidential Computing guest, where
  // cudaHostAlloc still works.
  bool refuse_register = getenv("CUDART_DOUBLE_REFUSE_REGISTER") != nullptr;
};

State& state() {
  static State s;
  return s;
}

cudaError_t record(State& s, int op, const void* ptr, size_t size, unsigned flags, cudaError_t rc) {
  if (s.logged < kLog) s.log[s.logged] = {op, reinterpret_cast<uintptr_t>(ptr), size, flags, rc};
  ++s.logged;
  if (rc != kSuccess) s.last_error = rc;
  return rc;
}

Range* find_containing(Range* table, const void* p) {
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  for (int i = 0; i < kRanges; ++i)
    if (table[i].base && a >= table[i].base && a < table[i].base + table[i].size) return &table[i];
  return nullptr;
}

Range* find_overlap(Range* table, uintptr_t a, size_t size) {
  for (int i = 0; i < kRanges; ++i)
    if (table[i].base && a < table[i].base + table[i].size && table[i].base < a + size) return &table[i];
  return nullptr;
}

Range* free_slot(Range* table) {
  for (int i = 0; i < kRanges; ++i)
    if (!table[i].base) return &table[i];
  return nullptr;
}

cudaError_t host_alloc(int op, void** ptr, size_t size, unsigned flags) {
  State& s = state();
  std::lock_guard<std::mutex> g(s.lock);
  if (s.no_device_error) return record(s, op, nullptr, size, flags, s.no_device_error);
  if (!ptr || size == 0) return record(s, op, nullptr, size, flags, kInvalidValue);
  Range* slot = free_slot(s.allocs);
  void* p = slot ? mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                 : MAP_FAILED;
  if (p == MAP_FAILED) return record(s, op, nullptr, size, flags, kMemoryAllocation);
  if (mlock(p, size) != 0) {
    munmap(p, size);
    return record(s, op, nullptr, size, flags, kMemoryAllocation);
  }
  *slot = {reinterpret_cast<uintptr_t>(p), size, flags};
  *ptr = p;
  return record(s, op, p, size, flags, kSuccess);
}

}  // namespace

extern "C" {

cudaError_t cudaHostAlloc(void** ptr, size_t size, unsigned int flags) {
  return host_alloc(CUDART_DOUBLE_HOST_ALLOC, ptr, size, flags);
}

cudaError_t cudaMallocHost(void** ptr, size_t size) {
  return host_alloc(CUDART_DOUBLE_MALLOC_HOST, ptr, size, 0);
}

cudaError_t cudaFreeHost(void* ptr) {
  State& s = state();
  std::lock_guard<std::mutex> g(s.lock);
  if (s.no_device_error) return record(s, CUDART_DOUBLE_FREE_HOST, ptr, 0, 0, s.no_device_error);
  if (!ptr) return record(s, CUDART_DOUBLE_FREE_HOST, ptr, 0, 0, kSuccess);
  for (Range& r : s.allocs)
    if (r.base == reinterpret_cast<uintptr_t>(ptr)) {
      munmap(ptr, r.size);
      size_t size = r.size;
      r = Range{};
      return record(s, CUDART_DOUBLE_FREE_HOST, ptr, size, 0, kSuccess);
    }
  return record(s, CUDART_DOUBLE_FREE_HOST, ptr, 0, 0, kInvalidValue);
}

}  // extern "C"

namespace {

uint64_t mono_ns() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1000000000u + static_cast<uint64_t>(t.tv_nsec);
}

cudaError_t register_range(void* ptr, size_t size, unsigned int flags);

}  // namespace

extern "C" {

// The pin (mlock) faults every page not yet present, one at a time on this
// thread, as the driver's pin_user_pages does; the time is kept for
// tools/bench-register.
cudaError_t cudaHostRegister(void* ptr, size_t size, unsigned int flags) {
  uint64_t t0 = mono_ns();
  cudaError_t e = register_range(ptr, size, flags);
  State& s = state();
  std::lock_guard<std::mutex> g(s.lock);
  s.last_register_ns = mono_ns() - t0;
  return e;
}

uint64_t cudart_double_last_register_ns(void) {
  State& s = state();
  std::lock_guard<std::mutex> g(s.lock);
  return s.last_register_ns;
}

}  // extern "C"

namespace {

cudaError_t register_range(void* ptr, size_t size, unsigned int flags) {
  State& s = state();
  std::lock_guard<std::mutex> g(s.lock);
  if (s.no_device_error) return record(s, CUDART_DOUBLE_HOST_REGISTER, ptr, size, flags, s.no_device_error);
  // What the registration finds on arrival, before the pin faults anything.
  if (ptr && size) s.last_view = take_range_view(ptr, size);
  if (s.refuse_register) return record(s, CUDART_DOUBLE_HOST_REGISTER, ptr, size, flags, kNotSupported);
  if (s.fail_register_countdown > 0 && --s.fail_register_countdown == 0)
    return record(s, CUDART_DOUBLE_HOST_REGISTER, ptr, size, flags, s.fail_register_error);
  uintptr_t a = reinterpret_cast<uintptr_t>(ptr);
  if (!ptr || size == 0) return record(s, CUDART_DOUBLE_HOST_REGISTER, ptr, size, flags, kInvalidValue);
  if (find_overlap(s.allocs, a, size))
    return record(s, CUDART_DOUBLE_HOST_REGISTER, ptr, size, flags, kInvalidValue);
  if (find_overlap(s.registrations, a, size))
    return record(s, CUDART_DOUBLE_HOST_REGISTER, ptr, size, flags, kAlreadyRegistered);
  Range* slot = free_slot(s.registrations);
  if (!slot || mlock(ptr, size) != 0)
    return record(s, CUDART_DOUBLE_HOST_REGISTER, ptr, size, flags, kMemoryAllocation);
  *slot = {a, size, flags};
  return record(s, CUDART_DOUBLE_HOST_REGISTER, ptr, size, flags, kSuccess);
}

}  // namespace

extern "C" {

cudaError_t cudaHostUnregister(void* ptr) {
  State& s = state();
  std::lock_guard<std::mutex> g(s.lock);
  if (s.no_device_error) return record(s, CUDART_DOUBLE_HOST_UNREGISTER, ptr, 0, 0, s.no_device_error);
  for (Range& r : s.registrations)
    if (r.base && r.base == reinterpret_cast<uintptr_t>(ptr)) {
      munlock(ptr, r.size);
      size_t size = r.size;
      r = Range{};
      return record(s, CUDART_DOUBLE_HOST_UNREGISTER, ptr, size, 0, kSuccess);
    }
  if (find_containing(s.allocs, ptr))
    return record(s, CUDART_DOUBLE_HOST_UNREGISTER, ptr, 0, 0, kInvalidValue);
  return record(s, CUDART_DOUBLE_HOST_UNREGISTER, ptr, 0, 0, kNotRegistered);
}

cudaError_t cudaHostGetFlags(unsigned int* flags, void* ptr) {
  State& s = state();
  std::lock_guard<std::mutex> g(s.lock);
  if (s.no_device_error) return record(s, CUDART_DOUBLE_HOST_GET_FLAGS, ptr, 0, 0, s.no_device_error);
  Range* r = find_containing(s.allocs, ptr);
  if (!r || !flags) return record(s, CUDART_DOUBLE_HOST_GET_FLAGS, ptr, 0, 0, kInvalidValue);
  *flags = r->flags | kRegisterMapped;  // cudaHostAllocMapped: the same bit
  return record(s, CUDART_DOUBLE_HOST_GET_FLAGS, ptr, 0, *flags, kSuccess);
}

cudaError_t cudaHostGetDevicePointer(void** device, void* host, unsigned int flags) {
  State& s = state();
  std::lock_guard<std::mutex> g(s.lock);
  if (s.no_device_error) return record(s, CUDART_DOUBLE_GET_DEVICE_POINTER, host, 0, flags, s.no_device_error);
  Range* r = find_containing(s.allocs, host);
  Range* reg = find_containing(s.registrations, host);
  bool mapped = r || (reg && (reg->flags & kRegisterMapped));
  if (!device || !mapped) return record(s, CUDART_DOUBLE_GET_DEVICE_POINTER, host, 0, flags, kInvalidValue);
  *device = host;  // unified addressing: the device sees the host address
  return record(s, CUDART_DOUBLE_GET_DEVICE_POINTER, host, 0, flags, kSuccess);
}

cudaError_t cudaGetLastError(void) {
  State& s = state();
  std::lock_guard<std::mutex> g(s.lock);
  cudaError_t e = s.no_device_error ? s.no_device_error : s.last_error;
  s.last_error = kSuccess;
  if (s.logged < kLog) s.log[s.logged] = {CUDART_DOUBLE_GET_LAST_ERROR, 0, 0, 0, e};
  ++s.logged;
  return e;
}

cudaError_t cudaPeekAtLastError(void) {
  State& s = state();
  std::lock_guard<std::mutex> g(s.lock);
  cudaError_t e = s.no_device_error ? s.no_device_error : s.last_error;
  if (s.logged < kLog) s.log[s.logged] = {CUDART_DOUBLE_PEEK_AT_LAST_ERROR, 0, 0, 0, e};
  ++s.logged;
  return e;
}

cudaError_t cudaGetDevice(int* device) {
  State& s = state();
  std::lock_guard<std::mutex> g(s.lock);
  if (s.no_device_error) return record(s, CUDART_DOUBLE_GET_DEVICE, nullptr, 0, 0, s.no_device_error);
  *device = 0;
  return record(s, CUDART_DOUBLE_GET_DEVICE, nullptr, 0, 0, kSuccess);
}

cudaError_t cudaDeviceGetPCIBusId(char* bus_id, int len, int device) {
  State& s = state();
  std::lock_guard<std::mutex> g(s.lock);
  if (s.no_device_error) return record(s, CUDART_DOUBLE_PCI_BUS_ID, nullptr, 0, 0, s.no_device_error);
  if (device != 0 || len < 13) return record(s, CUDART_DOUBLE_PCI_BUS_ID, nullptr, 0, 0, kInvalidValue);
  // The CUDA spelling (upper case); no such device exists under sysfs.
  strncpy(bus_id, "0000:EE:1F.7", static_cast<size_t>(len));
  return record(s, CUDART_DOUBLE_PCI_BUS_ID, nullptr, 0, 0, kSuccess);
}

int cudart_double_major(void) { return CUDART_DOUBLE_MAJOR; }

size_t cudart_double_calls(cudart_double_call* out, size_t max) {
  State& s = state();
  std::lock_guard<std::mutex> g(s.lock);
  size_t n = s.logged < kLog ? s.logged : kLog;
  if (n > max) n = max;
  memcpy(out, s.log, n * sizeof *out);
  return n;
}

void cudart_double_fail_register(int nth, int error) {
  State& s = state();
  std::lock_guard<std::mutex> g(s.lock);
  s.fail_register_countdown = nth;
  s.fail_register_error = error;
}

void cudart_double_last_view(range_view* out) {
  State& s = state();
  std::lock_guard<std::mutex> g(s.lock);
  *out = s.last_view;
}

void cudart_double_no_device(int error) {
  State& s = state();
  std::lock_guard<std::mutex> g(s.lock);
  s.no_device_error = error;
}

}  // extern "C"
