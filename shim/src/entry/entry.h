// What the one start-up path (entry/init.cpp) sets in the entry families.
#pragma once

#include <cstddef>

namespace hugeshim {

// The malloc family's threshold: requests at or above it are redirected.
// ~0 (nothing redirected) until shim_init() has set up the arena; written
// once, before any thread the program creates after load can race with it.
// Hidden: every malloc fast path reads it, straight rather than via the GOT.
extern size_t g_malloc_threshold __attribute__((visibility("hidden")));

// Decides which mmap calls the shim serves, from the loaded options; until
// it has run every mmap passes through. Called once by shim_init().
void mmap_entry_init();

// fork handlers of the mmap family (its range table's lock).
void mmap_entry_before_fork();
void mmap_entry_after_fork_parent();
void mmap_entry_after_fork_child();

}  // namespace hugeshim
