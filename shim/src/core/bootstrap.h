// Real-symbol resolution and the shim's reentrancy guard.
//
// Every g_real pointer starts at a resolving trampoline, so the first call of
// any family member (possibly from another library's constructor, before
// ours) resolves all of them with dlsym(RTLD_NEXT) and then forwards. No entry
// point ever checks "am I initialised?": the fast path stays one compare.
//
// dlsym may call calloc/malloc (for its error buffer); while resolution is in
// progress those calls are served from a static bootstrap buffer, and free()
// of a bootstrap pointer is ignored.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hugeshim {

struct RealMalloc {
  void* (*malloc)(size_t);
  void (*free)(void*);
  void* (*calloc)(size_t, size_t);
  void* (*realloc)(void*, size_t);
  int (*posix_memalign)(void**, size_t, size_t);
  void* (*aligned_alloc)(size_t, size_t);
  void* (*memalign)(size_t, size_t);
  void* (*valloc)(size_t);
  void* (*pvalloc)(size_t);
  size_t (*malloc_usable_size)(void*);
};

// Hidden (as every shim symbol but the exports): the entry points jump
// through a slot at a fixed offset from their own code, not through the GOT.
extern RealMalloc g_real __attribute__((visibility("hidden")));

// Resolves every real symbol now (idempotent). Called from the constructor so
// that nothing is resolved lazily later inside free() or a signal handler.
void bootstrap_resolve();

// The bootstrap buffer (see bootstrap.cpp).
constexpr size_t kBootstrapBytes = 64 * 1024;
extern unsigned char g_bootstrap_buffer[kBootstrapBytes] __attribute__((visibility("hidden")));

// The buffer's address as a pointer the loader fills in: bootstrap_owns
// subtracts it from p straight from memory (the array's own address would
// take an lea first, one more instruction on every free and realloc).
extern unsigned char* const g_bootstrap_begin __attribute__((visibility("hidden")));

// Whether p came from the bootstrap buffer (never handed to the real free).
// Inline: it sits on free()'s pass-through path.
inline bool bootstrap_owns(const void* p) {
  return static_cast<size_t>(static_cast<const unsigned char*>(p) - g_bootstrap_begin) < kBootstrapBytes;
}
size_t bootstrap_usable_size(const void* p);

// Reentrancy guard: set while the shim's slow path runs on this thread, so
// that allocations made underneath it (libnuma, pthread_create, dlsym) go
// straight to the real allocator. Initial-exec TLS: no allocation on access.
// (__thread, not thread_local: no TLS wrapper function on access.)
extern __thread bool t_in_shim __attribute__((tls_model("initial-exec")));

class ShimScope {
 public:
  ShimScope() : was_(t_in_shim) { t_in_shim = true; }
  ~ShimScope() { t_in_shim = was_; }
  ShimScope(const ShimScope&) = delete;
  ShimScope& operator=(const ShimScope&) = delete;

 private:
  bool was_;
};

}  // namespace hugeshim
