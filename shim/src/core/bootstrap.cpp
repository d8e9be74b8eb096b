#include "core/bootstrap.h"

#include <dlfcn.h>
#include <errno.h>
#include <cstring>
#include <unistd.h>

#include "os/next_dl.h"

namespace hugeshim {

__thread bool t_in_shim __attribute__((tls_model("initial-exec"))) = false;
alignas(64) unsigned char g_bootstrap_buffer[kBootstrapBytes];

namespace {

// Static buffer for allocations made while symbols are being resolved. Any
// thread may take from it: the resolving thread (dlsym's own calloc) and
// every other thread whose allocation arrives while g_resolving is set. Bump
// allocation by compare-and-swap; blocks are never reused. Each block carries
// its size in the 16 bytes before it, so realloc/malloc_usable_size work.
size_t g_boot_used = 0;

void* boot_alloc(size_t n, size_t align = 16) {
  if (align < 16) align = 16;
  if (n > kBootstrapBytes || align > kBootstrapBytes) {
    errno = ENOMEM;
    return nullptr;
  }
  size_t used = __atomic_load_n(&g_boot_used, __ATOMIC_RELAXED);
  size_t start;
  do {
    start = (used + 16 + align - 1) & ~(align - 1);
    if (start + n > kBootstrapBytes) {
      errno = ENOMEM;
      return nullptr;
    }
  } while (!__atomic_compare_exchange_n(&g_boot_used, &used, start + n, true, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED));
  memcpy(g_bootstrap_buffer + start - sizeof(size_t), &n, sizeof n);
  return g_bootstrap_buffer + start;  // static storage: already zero, never reused
}

// Set while one thread resolves; read by every thread's first call.
bool g_resolving = false;
bool resolving() { return __atomic_load_n(&g_resolving, __ATOMIC_ACQUIRE); }

template <typename T>
void resolve(T* slot, const char* name) {
  void* sym = os_dlsym(RTLD_NEXT, name);
  if (sym) *slot = reinterpret_cast<T>(sym);
}

// Trampolines: the initial value of each g_real slot.
void* first_malloc(size_t n) {
  if (resolving()) return boot_alloc(n);
  bootstrap_resolve();
  return g_real.malloc != first_malloc ? g_real.malloc(n) : boot_alloc(n);
}
void first_free(void* p) {
  if (resolving() || bootstrap_owns(p)) return;
  bootstrap_resolve();
  if (g_real.free != first_free) g_real.free(p);
}
void* first_calloc(size_t n, size_t m) {
  size_t total;
  if (__builtin_mul_overflow(n, m, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  if (resolving()) return boot_alloc(total);
  bootstrap_resolve();
  return g_real.calloc != first_calloc ? g_real.calloc(n, m) : boot_alloc(total);
}
void* first_realloc(void* p, size_t n) {
  bootstrap_resolve();
  if (g_real.realloc == first_realloc) return nullptr;
  return g_real.realloc(p, n);
}
int first_posix_memalign(void** out, size_t align, size_t n) {
  bootstrap_resolve();
  if (g_real.posix_memalign == first_posix_memalign) return ENOMEM;
  return g_real.posix_memalign(out, align, n);
}
void* first_aligned_alloc(size_t align, size_t n) {
  if (resolving()) return boot_alloc(n, align);
  bootstrap_resolve();
  return g_real.aligned_alloc != first_aligned_alloc ? g_real.aligned_alloc(align, n) : nullptr;
}
void* first_memalign(size_t align, size_t n) {
  if (resolving()) return boot_alloc(n, align);
  bootstrap_resolve();
  return g_real.memalign != first_memalign ? g_real.memalign(align, n) : nullptr;
}
void* first_valloc(size_t n) {
  bootstrap_resolve();
  return g_real.valloc != first_valloc ? g_real.valloc(n) : nullptr;
}
void* first_pvalloc(size_t n) {
  bootstrap_resolve();
  return g_real.pvalloc != first_pvalloc ? g_real.pvalloc(n) : nullptr;
}
size_t first_malloc_usable_size(void* p) {
  if (bootstrap_owns(p)) return bootstrap_usable_size(p);
  bootstrap_resolve();
  return g_real.malloc_usable_size != first_malloc_usable_size ? g_real.malloc_usable_size(p) : 0;
}

}  // namespace

RealMalloc g_real = {first_malloc,   first_free,          first_calloc,
                     first_realloc,  first_posix_memalign, first_aligned_alloc,
                     first_memalign, first_valloc,        first_pvalloc,
                     first_malloc_usable_size};

void bootstrap_resolve() {
  if (resolving() || __atomic_load_n(&g_real.malloc, __ATOMIC_ACQUIRE) != first_malloc) return;
  // Two threads may both get here; both resolve the same answers, and each
  // publishes a complete table (malloc last).
  __atomic_store_n(&g_resolving, true, __ATOMIC_RELEASE);
  int saved = errno;
  RealMalloc r = g_real;
  resolve(&r.free, "free");
  resolve(&r.calloc, "calloc");
  resolve(&r.realloc, "realloc");
  resolve(&r.posix_memalign, "posix_memalign");
  resolve(&r.aligned_alloc, "aligned_alloc");
  resolve(&r.memalign, "memalign");
  resolve(&r.valloc, "valloc");
  resolve(&r.pvalloc, "pvalloc");
  resolve(&r.malloc_usable_size, "malloc_usable_size");
  resolve(&r.malloc, "malloc");
  // Publish malloc last: it is the "resolved" marker checked above.
  void* (*m)(size_t) = r.malloc;
  r.malloc = first_malloc;
  g_real = r;
  __atomic_store_n(&g_real.malloc, m, __ATOMIC_RELEASE);
  __atomic_store_n(&g_resolving, false, __ATOMIC_RELEASE);
  errno = saved;
}

size_t bootstrap_usable_size(const void* p) {
  size_t n;
  memcpy(&n, static_cast<const unsigned char*>(p) - sizeof n, sizeof n);
  return n;
}

}  // namespace hugeshim
