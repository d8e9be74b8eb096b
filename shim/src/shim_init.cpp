// Load-time set-up and fork handling: resolve real symbols, read options,
// reserve the arena, start telemetry, then open the malloc threshold.
#include <pthread.h>

#include "arena.h"
#include "backing.h"
#include "bootstrap.h"
#include "malloc_entry.h"
#include "options.h"
#include "telemetry.h"

namespace hugeshim {
namespace {

void before_fork() { arena_lock(); }
void after_fork_parent() { arena_unlock(); }
void after_fork_child() {
  // The child has one thread; a lock held by another parent thread would
  // never be released, so start from a fresh one. Region state is consistent
  // because before_fork() held the lock.
  arena_reset_lock_in_child();
  telemetry_after_fork_child();
}

// Priority 101: before ordinary constructors of libraries loaded after us.
__attribute__((constructor(101))) void shim_init() {
  ShimScope scope;
  bootstrap_resolve();
  options_load();
  if (g_options.disable) return;
  telemetry_init();
  backing_init();
  if (!arena_init()) return;
  pthread_atfork(before_fork, after_fork_parent, after_fork_child);
  if (g_options.intercept_malloc) g_malloc_threshold = g_options.min_size;
}

}  // namespace
}  // namespace hugeshim
