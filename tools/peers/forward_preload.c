// libforward-preload.so: the least an LD_PRELOAD malloc interposer can do.
// Each exported member of the malloc family jumps to the next definition
// (glibc's) through a pointer, and does nothing else. tools/peers/peers.py
// runs the callgrind workloads under it as the floor for any interposer:
// what it adds over no preload is the price of interposing at all (one
// indirect jump per call), before any check an interposer with a purpose
// must make. Reference only; not part of the product.
//
// Until the constructor has resolved the pointers (a library constructor
// that runs before ours may allocate), each starts at a function that
// resolves it with dlsym(RTLD_NEXT) first. glibc's dlsym does not allocate
// when the symbol exists.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

static void* first_malloc(size_t n);
static void first_free(void* p);
static void* first_calloc(size_t n, size_t m);
static void* first_realloc(void* p, size_t n);

static void* (*next_malloc)(size_t) = first_malloc;
static void (*next_free)(void*) = first_free;
static void* (*next_calloc)(size_t, size_t) = first_calloc;
static void* (*next_realloc)(void*, size_t) = first_realloc;

static void resolve(void) {
  next_malloc = (void* (*)(size_t))dlsym(RTLD_NEXT, "malloc");
  next_free = (void (*)(void*))dlsym(RTLD_NEXT, "free");
  next_calloc = (void* (*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
  next_realloc = (void* (*)(void*, size_t))dlsym(RTLD_NEXT, "realloc");
}

__attribute__((constructor)) static void init(void) { resolve(); }

static void* first_malloc(size_t n) { resolve(); return next_malloc(n); }
static void first_free(void* p) { resolve(); next_free(p); }
static void* first_calloc(size_t n, size_t m) { resolve(); return next_calloc(n, m); }
static void* first_realloc(void* p, size_t n) { resolve(); return next_realloc(p, n); }

__attribute__((visibility("default"))) void* malloc(size_t n) { return next_malloc(n); }
__attribute__((visibility("default"))) void free(void* p) { next_free(p); }
__attribute__((visibility("default"))) void* calloc(size_t n, size_t m) { return next_calloc(n, m); }
__attribute__((visibility("default"))) void* realloc(void* p, size_t n) { return next_realloc(p, n); }
