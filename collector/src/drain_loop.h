// The collector's cadence: drain every attached ring often enough that a
// ring of default size never fills at the rates we target, and look for new
// segments as often.
#pragma once

#include <chrono>
#include <functional>

#include "recorder.h"

namespace hugeshim::collector {

struct DrainCadence {
  // 16384 slots at 200k events/s fill in 82 ms: a 10 ms drain keeps a ring
  // below 15% full (docs/BENCHMARKS.md measures it).
  std::chrono::milliseconds drain{10};
  // A readdir of a small directory is cheap; finding a segment early lets
  // the collector read the process's maps while it still runs.
  std::chrono::milliseconds discover{10};
};

// Drains and discovers while keep_going() is true, expanding staged batches
// in the time left before each next drain; at the end drains once more and
// expands everything.
void drain_while(Recorder& recorder, const std::function<bool()>& keep_going, DrainCadence cadence = {});

}  // namespace hugeshim::collector
