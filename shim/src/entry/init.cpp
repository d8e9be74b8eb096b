// The shim's one start-up path and its one set of fork handlers: resolve the
// real symbols, read the options, start telemetry, enable the entry
// families, reserve the arena, then open the malloc threshold.
#include <pthread.h>
#include <stdlib.h>

#include "core/arena.h"
#include "core/bootstrap.h"
#include "cuda/driver_wrap.h"
#include "cupti/cupti_session.h"
#include "entry/dlsym_trampoline.h"
#include "entry/entry.h"
#include "hugeshim/options.h"
#include "os/backing.h"
#include "telemetry/telemetry.h"

namespace hugeshim {
namespace {

// The prepare handler takes every shim lock, so the child inherits
// consistent state; there, locks that other parent threads could have held
// are re-initialised (the child has one thread). The mmap table lock is
// never held while the arena lock is taken, or the reverse, so the order is
// free; it is fixed here anyway.
void before_fork() {
  mmap_entry_before_fork();
  arena_lock();
}
void after_fork_parent() {
  arena_unlock();
  mmap_entry_after_fork_parent();
}
void after_fork_child() {
  arena_reset_lock_in_child();
  mmap_entry_after_fork_child();
  telemetry_after_fork_child();
  cupti_after_fork_child();
}

// Priority 101: before ordinary constructors of libraries loaded after us.
// Calls that arrive earlier (another library's constructor) pass through:
// every threshold starts at "nothing is ours".
__attribute__((constructor(101))) void shim_init() {
  ShimScope scope;
  bootstrap_resolve();
#if HUGESHIM_DLSYM_TRAMPOLINE
  // Resolved now, so no lookup resolves lazily later under locks we cannot see.
  hugeshim_dl_resolve_next();
#endif
  options_load();
  if (g_options.disable) return;
  telemetry_init();
  // quick_exit skips destructors: close the segment on that path too.
  at_quick_exit(telemetry_at_exit);
  at_quick_exit(cupti_at_exit);  // runs first: the flushed copies reach the ring
  backing_init();
  cuda_driver_enable(g_options.intercept_cuda);
  mmap_entry_init();
  pthread_atfork(before_fork, after_fork_parent, after_fork_child);
  if (arena_init() && g_options.intercept_malloc) g_malloc_threshold = g_options.min_size;
  cupti_start_at_load();  // last: it may load CUDA libraries, which allocate
}

}  // namespace
}  // namespace hugeshim
