// Finding the real cudart of a caller: dladdr1 on the return address gives
// the caller's link map, its DT_NEEDED entries name the cudart it was linked
// against, dl_iterate_phdr finds that library among the loaded ones, and
// dlvsym on a RTLD_NOLOAD handle of it gives its own definitions.
#include "cuda/runtime_lookup.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>

#include "hugeshim/log.h"
#include "os/elf.h"
#include "os/next_dl.h"

namespace hugeshim {
namespace {

constexpr int kMaxRuntimes = 8;
constexpr char kCudartPrefix[] = "libcudart.so";

// Published entries [0, g_runtime_count) are immutable.
CudaRuntime g_runtimes[kMaxRuntimes];
std::atomic<int> g_runtime_count{0};
pthread_mutex_t g_build_lock = PTHREAD_MUTEX_INITIALIZER;

bool is_cudart_soname(const char* name) {
  return strncmp(name, kCudartPrefix, sizeof kCudartPrefix - 1) == 0;
}

struct Candidate {
  char path[512];
  char soname[32];
  uintptr_t base;
};

struct Scan {
  const char* want;  // soname to find, or nullptr for the first cudart
  Candidate found;
  bool ok;
};

int scan_object(dl_phdr_info* info, size_t, void* data) {
  auto* scan = static_cast<Scan*>(data);
  if (!info->dlpi_name || !info->dlpi_name[0]) return 0;
  const ElfW(Dyn)* dyn = elf_dynamic_section(info);
  if (!dyn) return 0;
  const char* soname = elf_soname(info->dlpi_addr, dyn);
  if (!soname || !is_cudart_soname(soname) || strlen(soname) >= sizeof scan->found.soname) return 0;
  if (scan->want && strcmp(scan->want, soname) != 0) return 0;
  if (strlen(info->dlpi_name) >= sizeof scan->found.path) return 0;
  strcpy(scan->found.path, info->dlpi_name);
  strcpy(scan->found.soname, soname);
  scan->found.base = info->dlpi_addr;
  scan->ok = true;
  return 1;
}

template <typename Fn>
void bind(void* handle, const char* version, const char* name, Fn* out) {
  void* sym = os_dlvsym(handle, name, version);
  if (!sym) sym = os_dlsym(handle, name);
  *out = reinterpret_cast<Fn>(sym);
}

const CudaRuntime* published(uintptr_t base) {
  int n = g_runtime_count.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i)
    if (g_runtimes[i].load_base == base) return &g_runtimes[i];
  return nullptr;
}

const CudaRuntime* published_soname(const char* soname) {
  int n = g_runtime_count.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i)
    if (!strcmp(g_runtimes[i].soname, soname)) return &g_runtimes[i];
  return nullptr;
}

// Finds a loaded cudart (by soname, or the first one) and publishes it.
// Runs dl_iterate_phdr and dlopen, so never under g_build_lock's callers'
// locks and never from inside malloc.
const CudaRuntime* load(const char* want) {
  Scan scan{want, {}, false};
  dl_iterate_phdr(scan_object, &scan);
  if (!scan.ok) return nullptr;
  if (const CudaRuntime* rt = published(scan.found.base)) return rt;

  // RTLD_NOLOAD: only an already-loaded library; the reference we take is
  // never dropped, which keeps the library (and our pointers) alive.
  void* handle = dlopen(scan.found.path, RTLD_LAZY | RTLD_NOLOAD);
  if (!handle) return nullptr;
  CudaRuntime rt;
  rt.load_base = scan.found.base;
  strcpy(rt.soname, scan.found.soname);
  const char* digits = rt.soname + sizeof kCudartPrefix - 1;
  rt.major = *digits == '.' ? atoi(digits + 1) : 0;
  const char* v = rt.soname;  // cudart's version node is named after its soname
  bind(handle, v, "cudaHostAlloc", &rt.host_alloc);
  bind(handle, v, "cudaMallocHost", &rt.malloc_host);
  bind(handle, v, "cudaFreeHost", &rt.free_host);
  bind(handle, v, "cudaHostRegister", &rt.host_register);
  bind(handle, v, "cudaHostUnregister", &rt.host_unregister);
  bind(handle, v, "cudaHostGetFlags", &rt.host_get_flags);
  bind(handle, v, "cudaGetLastError", &rt.get_last_error);
  bind(handle, v, "cudaPeekAtLastError", &rt.peek_at_last_error);
  bind(handle, v, "cudaGetDevice", &rt.get_device);
  bind(handle, v, "cudaDeviceGetPCIBusId", &rt.device_get_pci_bus_id);
  if (!rt.host_alloc || !rt.malloc_host || !rt.free_host || !rt.host_register ||
      !rt.host_unregister || !rt.host_get_flags || !rt.get_last_error ||
      !rt.peek_at_last_error || !rt.get_device || !rt.device_get_pci_bus_id) {
    log_at(LogLevel::warn, "%s at %s lacks a pinned-memory entry point; not used",
           scan.found.soname, scan.found.path);
    return nullptr;
  }

  pthread_mutex_lock(&g_build_lock);
  const CudaRuntime* result = published(rt.load_base);
  int n = g_runtime_count.load(std::memory_order_relaxed);
  if (!result && n < kMaxRuntimes) {
    g_runtimes[n] = rt;
    g_runtime_count.store(n + 1, std::memory_order_release);
    result = &g_runtimes[n];
    log_at(LogLevel::info, "CUDA runtime %s at %s", rt.soname, scan.found.path);
  }
  pthread_mutex_unlock(&g_build_lock);
  return result;
}

// The cudart soname among the caller's DT_NEEDED entries, or nullptr.
const char* needed_cudart(const void* return_address) {
  Dl_info info;
  link_map* caller = nullptr;
  if (!dladdr1(return_address, &info, reinterpret_cast<void**>(&caller), RTLD_DL_LINKMAP) ||
      !caller || !caller->l_ld)
    return nullptr;
  const char* found = nullptr;
  elf_for_each_needed(caller->l_addr, caller->l_ld, [&](const char* s) {
    if (is_cudart_soname(s)) found = s;
    return found == nullptr;
  });
  return found;
}

}  // namespace

const CudaRuntime* cuda_runtime_for(const void* return_address) {
  if (const char* soname = needed_cudart(return_address)) {
    if (const CudaRuntime* rt = published_soname(soname)) return rt;
    if (const CudaRuntime* rt = load(soname)) return rt;
  }
  // A caller not linked against cudart by name (a loader trampoline, code
  // whose DT_NEEDED we cannot read): the first cudart in load order, as an
  // unversioned global lookup would bind.
  static std::atomic<const CudaRuntime*> first{nullptr};
  if (const CudaRuntime* rt = first.load(std::memory_order_acquire)) return rt;
  const CudaRuntime* rt = load(nullptr);
  if (rt) first.store(rt, std::memory_order_release);
  return rt;
}

}  // namespace hugeshim
