// The shim's exported dlsym and dlvsym (dlsym_trampoline.S) and what they
// jump to. x86-64 only: elsewhere the shim exports neither and the driver
// API is not observed (docs/CUDA.md, "Driver API and static runtimes").
//
// Contract of the trampolines, so that every lookup keeps its native meaning:
// - handle RTLD_DEFAULT or RTLD_NEXT, a NULL name, or a name not starting
//   with "cu": a tail jump to the next dlsym/dlvsym. glibc resolves those
//   handles relative to its caller's return address; after a tail jump that
//   is still the program's, so the answer is exactly the native one.
// - otherwise hugeshim_dl_wants_driver_wrap(name) decides (registers saved
//   around the call): 0 gives the same tail jump; 1 jumps (again a tail jump,
//   so the program's return address stays on the stack) to
//   hugeshim_dlsym_driver / hugeshim_dlvsym_driver, which call the next
//   dlsym themselves. For an explicit handle glibc needs the caller's
//   identity only for LD_AUDIT's symbind callback, which then sees the shim
//   as the binding object for these nine driver names.
#pragma once

#if defined(__x86_64__)
#define HUGESHIM_DLSYM_TRAMPOLINE 1
#else
#define HUGESHIM_DLSYM_TRAMPOLINE 0
#endif

#if HUGESHIM_DLSYM_TRAMPOLINE
extern "C" {

// The next definitions (glibc's, or another interposer's loaded after the
// shim). They start at the resolving stubs below, which resolve both on the
// first call and then jump on: a lookup made before the shim's constructor
// (another library's constructor) works too.
extern void* hugeshim_next_dlsym;
extern void* hugeshim_next_dlvsym;
void hugeshim_dlsym_resolving();
void hugeshim_dlvsym_resolving();

// Sets both pointers (idempotent, lock-free; entry/dlsym.cpp).
void hugeshim_dl_resolve_next();

// Whether a lookup of `name` on an explicit handle may be answered with a
// recording wrapper (entry/dlsym.cpp). Called with a non-NULL name.
int hugeshim_dl_wants_driver_wrap(const char* name);
void* hugeshim_dlsym_driver(void* handle, const char* name);
void* hugeshim_dlvsym_driver(void* handle, const char* name, const char* version);

}
#endif
