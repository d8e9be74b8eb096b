#include "core/bootstrap.h"

#include <dlfcn.h>
#include <errno.h>
#include <cstring>
#include <unistd.h>

#include "os/next_dl.h"
#include "os/os.h"

namespace hugeshim {

__thread bool t_in_shim __attribute__((tls_model("initial-exec"))) = false;
alignas(64) unsigned char g_bootstrap_buffer[kBootstrapBytes];
constinit unsigned char* const g_bootstrap_begin = g_bootstrap_buffer;

namespace {

// Static buffer for allocations made while symbols are being resolved. Any
// thread may take from it: the resolving thread (dlsym's own calloc) and
// every other thread whose allocation arrives while g_resolving is set. Bump
// allocation by compare-and-swap; blocks are never reused. Each block carries
// its size in the 16 bytes before it, so realloc/malloc_usable_size work.
size_t g_boot_used = 0;

// The alignment is of the address (the buffer itself is only 64-byte
// aligned), and `align` is rounded up to a power of two, as glibc's memalign
// does: the bump masks with align - 1, and any other value could move a
// block's start back over the block before it.
void* boot_alloc(size_t n, size_t align = 16) {
  if (align < 16) align = 16;
  if (n > kBootstrapBytes || align > kBootstrapBytes) {
    errno = ENOMEM;
    return nullptr;
  }
  if (align & (align - 1)) align = size_t{1} << (64 - __builtin_clzll(align));
  const uintptr_t buffer = reinterpret_cast<uintptr_t>(g_bootstrap_buffer);
  size_t used = __atomic_load_n(&g_boot_used, __ATOMIC_RELAXED);
  size_t start;
  do {
    start = round_up(buffer + used + 16, align) - buffer;
    if (start + n > kBootstrapBytes) {
      errno = ENOMEM;
      return nullptr;
    }
  } while (!__atomic_compare_exchange_n(&g_boot_used, &used, start + n, true, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED));
  memcpy(g_bootstrap_buffer + start - sizeof(size_t), &n, sizeof n);
  return g_bootstrap_buffer + start;  // static storage: already zero, never reused
}

// realloc of nothing or of a bootstrap block: a new block with the old
// contents (the old block is never reused).
void* boot_realloc(void* p, size_t n) {
  void* q = boot_alloc(n);
  if (q && p) {
    size_t old = bootstrap_usable_size(p);
    memcpy(q, p, old < n ? old : n);
  }
  return q;
}

int boot_posix_memalign(void** out, size_t align, size_t n) {
  if (align < sizeof(void*) || (align & (align - 1))) return EINVAL;
  int saved = errno;
  void* p = boot_alloc(n, align);
  errno = saved;
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

// Set while one thread resolves; read by every thread's first call.
bool g_resolving = false;
bool resolving() { return __atomic_load_n(&g_resolving, __ATOMIC_ACQUIRE); }

template <typename T>
void resolve(T* slot, const char* name) {
  void* sym = os_dlsym(RTLD_NEXT, name);
  if (sym) *slot = reinterpret_cast<T>(sym);
}

// A g_real slot, read while another thread may be publishing it.
template <typename T>
T real(T* slot) {
  return __atomic_load_n(slot, __ATOMIC_ACQUIRE);
}

// Trampolines: the initial value of each g_real slot. While another thread
// resolves, every allocating member is served from the bootstrap buffer, so
// no call fails just because it arrived during resolution.
void* first_malloc(size_t n) {
  if (resolving()) return boot_alloc(n);
  bootstrap_resolve();
  auto fn = real(&g_real.malloc);
  return fn != first_malloc ? fn(n) : boot_alloc(n);
}
void first_free(void* p) {
  if (resolving() || bootstrap_owns(p)) return;
  bootstrap_resolve();
  auto fn = real(&g_real.free);
  if (fn != first_free) fn(p);
}
void* first_calloc(size_t n, size_t m) {
  size_t total;
  if (__builtin_mul_overflow(n, m, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  if (resolving()) return boot_alloc(total);
  bootstrap_resolve();
  auto fn = real(&g_real.calloc);
  return fn != first_calloc ? fn(n, m) : boot_alloc(total);
}
// Until the real allocator is known, only nothing or a bootstrap block can
// be resized (no pointer from the real allocator exists before that).
void* first_realloc(void* p, size_t n) {
  if (resolving() && (!p || bootstrap_owns(p))) return boot_realloc(p, n);
  bootstrap_resolve();
  auto fn = real(&g_real.realloc);
  if (fn != first_realloc) return fn(p, n);
  if (!p || bootstrap_owns(p)) return boot_realloc(p, n);
  errno = ENOMEM;
  return nullptr;
}
int first_posix_memalign(void** out, size_t align, size_t n) {
  if (resolving()) return boot_posix_memalign(out, align, n);
  bootstrap_resolve();
  auto fn = real(&g_real.posix_memalign);
  return fn != first_posix_memalign ? fn(out, align, n) : boot_posix_memalign(out, align, n);
}
void* first_aligned_alloc(size_t align, size_t n) {
  if (resolving()) return boot_alloc(n, align);
  bootstrap_resolve();
  auto fn = real(&g_real.aligned_alloc);
  return fn != first_aligned_alloc ? fn(align, n) : boot_alloc(n, align);
}
void* first_memalign(size_t align, size_t n) {
  if (resolving()) return boot_alloc(n, align);
  bootstrap_resolve();
  auto fn = real(&g_real.memalign);
  return fn != first_memalign ? fn(align, n) : boot_alloc(n, align);
}
void* first_valloc(size_t n) {
  if (resolving()) return boot_alloc(n, kBasePage);
  bootstrap_resolve();
  auto fn = real(&g_real.valloc);
  return fn != first_valloc ? fn(n) : boot_alloc(n, kBasePage);
}
void* first_pvalloc(size_t n) {
  size_t rounded = round_up(n, kBasePage);
  if (rounded < n) {
    errno = ENOMEM;
    return nullptr;
  }
  if (resolving()) return boot_alloc(rounded, kBasePage);
  bootstrap_resolve();
  auto fn = real(&g_real.pvalloc);
  return fn != first_pvalloc ? fn(n) : boot_alloc(rounded, kBasePage);
}
size_t first_malloc_usable_size(void* p) {
  if (bootstrap_owns(p)) return bootstrap_usable_size(p);
  bootstrap_resolve();
  auto fn = real(&g_real.malloc_usable_size);
  return fn != first_malloc_usable_size ? fn(p) : 0;
}

constexpr RealMalloc kTrampolines = {first_malloc,   first_free,          first_calloc,
                                     first_realloc,  first_posix_memalign, first_aligned_alloc,
                                     first_memalign, first_valloc,        first_pvalloc,
                                     first_malloc_usable_size};

template <typename T>
void publish(T* slot, T value) {
  __atomic_store_n(slot, value, __ATOMIC_RELAXED);
}

}  // namespace

constinit RealMalloc g_real = kTrampolines;

void bootstrap_resolve() {
  if (resolving() || real(&g_real.malloc) != first_malloc) return;
  // Two threads may both get here; both resolve the same answers, and each
  // publishes every slot atomically (other threads read them meanwhile),
  // malloc last with release: it is the "resolved" marker checked above.
  __atomic_store_n(&g_resolving, true, __ATOMIC_RELEASE);
  int saved = errno;
  RealMalloc r = kTrampolines;
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
  publish(&g_real.free, r.free);
  publish(&g_real.calloc, r.calloc);
  publish(&g_real.realloc, r.realloc);
  publish(&g_real.posix_memalign, r.posix_memalign);
  publish(&g_real.aligned_alloc, r.aligned_alloc);
  publish(&g_real.memalign, r.memalign);
  publish(&g_real.valloc, r.valloc);
  publish(&g_real.pvalloc, r.pvalloc);
  publish(&g_real.malloc_usable_size, r.malloc_usable_size);
  __atomic_store_n(&g_real.malloc, r.malloc, __ATOMIC_RELEASE);
  __atomic_store_n(&g_resolving, false, __ATOMIC_RELEASE);
  errno = saved;
}

size_t bootstrap_usable_size(const void* p) {
  size_t n;
  memcpy(&n, static_cast<const unsigned char*>(p) - sizeof n, sizeof n);
  return n;
}

}  // namespace hugeshim
