// Clocks in 64-bit nanoseconds. CLOCK_MONOTONIC times every event and phase
// (a 512 GiB pin takes about a minute: no overflow for centuries); through
// the vDSO, so no system call.
#pragma once

#include <time.h>

#include <cstdint>

namespace hugeshim {

inline uint64_t clock_ns(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

inline uint64_t now_ns() { return clock_ns(CLOCK_MONOTONIC); }

}  // namespace hugeshim
