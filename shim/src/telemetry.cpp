// Telemetry producer (first cut: counts nothing yet; the ring lands next).
#include "telemetry.h"

#include <ctime>

namespace hugeshim {

void telemetry_init() {}
void telemetry_emit(const Event&) {}
void telemetry_count_small(uint32_t) {}
void telemetry_after_fork_child() {}
int telemetry_register_gpu(const char*, int, uint32_t) { return -1; }

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace hugeshim
