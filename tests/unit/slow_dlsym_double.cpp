// A test double of dlsym that can hold its callers: bootstrap_race_test.cpp
// links it so that the shim's symbol resolution (core/bootstrap.cpp) stays
// in progress for as long as the test needs, and every allocation other
// threads make meanwhile is served from the bootstrap buffer, however few
// cores the machine has.
//
// The shim finds "the next dlsym" by reading the symbol tables of the
// objects loaded after it (os/next_dl.h); linked into the test executable,
// this library comes before libc. Its dlsym carries its own version
// (slow_dlsym_double.map), so the dynamic linker never binds anybody's
// dlsym@GLIBC_* reference to it: only the shim's table walk finds it.
//
// Held or not, it then forwards to libc's dlsym, which would answer an
// RTLD_NEXT lookup relative to this library: the objects after it, so for
// malloc libc's even where a sanitizer runtime (loaded first) provides the
// process's malloc. The shim's objects are linked into the test executable,
// the first object, and define none of the names it looks up, so "next after
// the caller" is the whole global scope: RTLD_DEFAULT.
#include <dlfcn.h>
#include <time.h>

#include <atomic>

namespace {

using DlsymFn = void* (*)(void*, const char*);

std::atomic<bool> g_hold{false};
std::atomic<int> g_waiting{0};
std::atomic<int> g_held_calls{0};
DlsymFn g_libc_dlsym = nullptr;

__attribute__((constructor)) void find_libc_dlsym() {
  g_libc_dlsym = reinterpret_cast<DlsymFn>(dlvsym(RTLD_DEFAULT, "dlsym", "GLIBC_2.34"));
}

}  // namespace

extern "C" {

// While held, every dlsym call waits (sleeping) until released.
void slow_dlsym_hold(bool hold) { g_hold.store(hold, std::memory_order_release); }
// Callers waiting now, and calls that had to wait since load.
int slow_dlsym_waiting() { return g_waiting.load(std::memory_order_acquire); }
int slow_dlsym_held_calls() { return g_held_calls.load(std::memory_order_acquire); }

void* dlsym(void* handle, const char* name) noexcept {
  if (g_hold.load(std::memory_order_acquire)) {
    g_held_calls.fetch_add(1, std::memory_order_relaxed);
    g_waiting.fetch_add(1, std::memory_order_acq_rel);
    // Sleep rather than spin: the other threads get every core meanwhile.
    const timespec pause{0, 20000};
    while (g_hold.load(std::memory_order_acquire)) nanosleep(&pause, nullptr);
    g_waiting.fetch_sub(1, std::memory_order_acq_rel);
  }
  if (handle == RTLD_NEXT) handle = RTLD_DEFAULT;
  return g_libc_dlsym ? g_libc_dlsym(handle, name) : nullptr;
}

}  // extern "C"
