// Releases that must not run now. A free() of a large block from a signal
// handler that interrupted this very thread inside the shim's slow path
// (which may hold the arena lock) would deadlock if it released the region
// at once; glibc completes such a program, so the shim must too. The region
// is queued instead, lock-free, and released by the next slow-path call of
// any thread that is not itself inside the shim.
//
// Invariants:
// - A queued region is still live in the region table, with
//   release_pending set: a second free of it is refused as a double free.
// - Each queued region is released exactly once (a slot is taken by one
//   drainer through a compare-and-swap).
#pragma once

#include <cstdint>

#include "core/region.h"

namespace hugeshim {

// Queues r (freed by the code at `caller`). False when the queue is full:
// the region then stays allocated (a leak, never a deadlock).
// Async-signal-safe: atomics only.
bool deferred_release_push(Region* r, uint64_t caller);

// Whether anything is queued (one relaxed load).
bool deferred_release_pending();

// Releases every queued region and emits its free event. Call from a slow
// path, under a ShimScope, holding no shim lock.
void deferred_release_drain();

}  // namespace hugeshim
