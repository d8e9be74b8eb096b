#include "cuda/driver_wrap.h"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

#include "cuda/driver_abi.h"
#include "cuda/driver_record.h"
#include "hugeshim/log.h"
#include "os/elf.h"

namespace hugeshim {
namespace {

enum class Fn : uint8_t {
  get_proc_address,
  mem_host_alloc,
  mem_alloc_host_v1,
  mem_alloc_host,
  mem_host_register,
  mem_host_unregister,
  mem_free_host,
  count
};
constexpr int kFns = static_cast<int>(Fn::count);

// Real implementations per API: one libcuda normally gives one or two (its
// exported function, and what cuGetProcAddress answers if that differs).
constexpr int kSlots = 8;

std::atomic<bool> g_enabled{false};
// g_real[fn][slot]: 0 free; else claimed for that real pointer forever.
std::atomic<void*> g_real[kFns][kSlots];
std::atomic<bool> g_full_logged{false};

template <typename F>
F real_of(Fn fn, int slot) {
  return reinterpret_cast<F>(g_real[static_cast<int>(fn)][slot].load(std::memory_order_acquire));
}

// One wrapper per (API, slot). The return address is the caller in the
// program (or its static cudart).
template <int S>
cu_result get_proc_address(const char* symbol, void** pfn, int cuda_version, uint64_t flags,
                           void* status);

template <int S>
cu_result mem_host_alloc(void** pp, size_t bytes, unsigned flags) {
  auto real = real_of<CuMemHostAllocFn>(Fn::mem_host_alloc, S);
  return record_alloc(HUGESHIM_API_CU_MEM_HOST_ALLOC, pp, bytes, flags, __builtin_return_address(0),
                      [&] { return real(pp, bytes, flags); });
}

template <int S>
cu_result mem_alloc_host_v1(void** pp, unsigned bytes) {
  auto real = real_of<CuMemAllocHostV1Fn>(Fn::mem_alloc_host_v1, S);
  return record_alloc(HUGESHIM_API_CU_MEM_ALLOC_HOST, pp, bytes, 0, __builtin_return_address(0),
                      [&] { return real(pp, bytes); });
}

template <int S>
cu_result mem_alloc_host(void** pp, size_t bytes) {
  auto real = real_of<CuMemAllocHostFn>(Fn::mem_alloc_host, S);
  return record_alloc(HUGESHIM_API_CU_MEM_ALLOC_HOST, pp, bytes, 0, __builtin_return_address(0),
                      [&] { return real(pp, bytes); });
}

template <int S>
cu_result mem_host_register(void* p, size_t bytes, unsigned flags) {
  auto real = real_of<CuMemHostRegisterFn>(Fn::mem_host_register, S);
  return record_register(p, bytes, flags, __builtin_return_address(0),
                         [&] { return real(p, bytes, flags); });
}

template <int S>
cu_result mem_host_unregister(void* p) {
  auto real = real_of<CuMemHostUnregisterFn>(Fn::mem_host_unregister, S);
  return record_release(HUGESHIM_API_CU_MEM_HOST_UNREGISTER, LedgerKind::app_registration, p,
                        __builtin_return_address(0), [&] { return real(p); });
}

template <int S>
cu_result mem_free_host(void* p) {
  auto real = real_of<CuMemFreeHostFn>(Fn::mem_free_host, S);
  return record_release(HUGESHIM_API_CU_MEM_FREE_HOST, LedgerKind::native_alloc, p,
                        __builtin_return_address(0), [&] { return real(p); });
}

// The wrappers of every slot, as typed constants (no load-time initialiser
// runs: a lookup may come before the shim's constructors).
template <int... S>
struct Wrappers {
  static constexpr CuGetProcAddressFn get_proc_address_[] = {&get_proc_address<S>...};
  static constexpr CuMemHostAllocFn mem_host_alloc_[] = {&mem_host_alloc<S>...};
  static constexpr CuMemAllocHostV1Fn mem_alloc_host_v1_[] = {&mem_alloc_host_v1<S>...};
  static constexpr CuMemAllocHostFn mem_alloc_host_[] = {&mem_alloc_host<S>...};
  static constexpr CuMemHostRegisterFn mem_host_register_[] = {&mem_host_register<S>...};
  static constexpr CuMemHostUnregisterFn mem_host_unregister_[] = {&mem_host_unregister<S>...};
  static constexpr CuMemFreeHostFn mem_free_host_[] = {&mem_free_host<S>...};

  static void* at(Fn fn, int slot) {
    switch (fn) {
      case Fn::get_proc_address: return reinterpret_cast<void*>(get_proc_address_[slot]);
      case Fn::mem_host_alloc: return reinterpret_cast<void*>(mem_host_alloc_[slot]);
      case Fn::mem_alloc_host_v1: return reinterpret_cast<void*>(mem_alloc_host_v1_[slot]);
      case Fn::mem_alloc_host: return reinterpret_cast<void*>(mem_alloc_host_[slot]);
      case Fn::mem_host_register: return reinterpret_cast<void*>(mem_host_register_[slot]);
      case Fn::mem_host_unregister: return reinterpret_cast<void*>(mem_host_unregister_[slot]);
      case Fn::mem_free_host: return reinterpret_cast<void*>(mem_free_host_[slot]);
      case Fn::count: break;
    }
    return nullptr;
  }
};

template <int... S>
void* wrapper_at(Fn fn, int slot, std::integer_sequence<int, S...>) {
  return Wrappers<S...>::at(fn, slot);
}

void* wrapper(Fn fn, int slot) {
  return wrapper_at(fn, slot, std::make_integer_sequence<int, kSlots>{});
}

// The wrapper of `real` (claiming a slot for it the first time), or `real`
// itself when every slot of fn is taken by other implementations.
void* wrap(Fn fn, void* real) {
  std::atomic<void*>* slots = g_real[static_cast<int>(fn)];
  for (int s = 0; s < kSlots; ++s) {
    void* seen = slots[s].load(std::memory_order_acquire);
    if (!seen && slots[s].compare_exchange_strong(seen, real, std::memory_order_acq_rel))
      return wrapper(fn, s);
    if (seen == real) return wrapper(fn, s);  // ours, or claimed by a racing thread for it
  }
  if (!g_full_logged.exchange(true))
    log_at(LogLevel::warn, "more than %d CUDA driver implementations of one entry point; "
                           "calls through the others are not recorded", kSlots);
  return real;
}

struct Name {
  const char* name;
  Fn fn;
};
constexpr Name kNames[] = {
    {"cuGetProcAddress", Fn::get_proc_address},  {"cuGetProcAddress_v2", Fn::get_proc_address},
    {"cuMemHostAlloc", Fn::mem_host_alloc},      {"cuMemAllocHost", Fn::mem_alloc_host_v1},
    {"cuMemAllocHost_v2", Fn::mem_alloc_host},   {"cuMemHostRegister", Fn::mem_host_register},
    {"cuMemHostRegister_v2", Fn::mem_host_register},
    {"cuMemHostUnregister", Fn::mem_host_unregister},
    {"cuMemFreeHost", Fn::mem_free_host},
};

bool fn_of(const char* name, Fn* fn) {
  // Every wrapped name starts with one of these: other "cu" names (cuInit,
  // cuLaunchKernel, ...) leave after two compares.
  if (strncmp(name, "cuMem", 5) != 0 && strncmp(name, "cuGetProcAddress", 16) != 0) return false;
  for (const Name& n : kNames)
    if (!strcmp(n.name, name)) {
      *fn = n.fn;
      return true;
    }
  return false;
}

bool requester_is_cudart(const void* requester) {
  return soname_is(soname_at(requester), "libcudart.so");
}

template <int S>
cu_result get_proc_address(const char* symbol, void** pfn, int cuda_version, uint64_t flags,
                           void* status) {
  auto real = real_of<CuGetProcAddressFn>(Fn::get_proc_address, S);
  cu_result r = real(symbol, pfn, cuda_version, flags, status);
  Fn fn;
  if (r != kCuSuccess || !symbol || !pfn || !*pfn || !fn_of(symbol, &fn)) return r;
  int saved = errno;
  // Symbols are asked for by base name; the version follows cudaVersion.
  if (fn == Fn::mem_alloc_host_v1 && cuda_version >= kCuMemAllocHostV2Since &&
      strcmp(symbol, "cuMemAllocHost") == 0)
    fn = Fn::mem_alloc_host;
  if (!requester_is_cudart(__builtin_return_address(0))) *pfn = wrap(fn, *pfn);
  errno = saved;
  return r;
}

}  // namespace

void cuda_driver_enable(bool on) { g_enabled.store(on, std::memory_order_release); }

bool cuda_driver_enabled() { return g_enabled.load(std::memory_order_acquire); }

bool cuda_driver_is_wrapped_name(const char* name) {
  Fn fn;
  return fn_of(name, &fn);
}

void* cuda_driver_lookup(const char* name, void* real, const void* requester) {
  Fn fn;
  if (!real || !fn_of(name, &fn)) return real;
  int saved = errno;
  void* answer = real;
  if (soname_is(soname_at(real), "libcuda.so") && !requester_is_cudart(requester))
    answer = wrap(fn, real);
  errno = saved;
  return answer;
}

}  // namespace hugeshim
