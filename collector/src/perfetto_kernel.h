// Kernel activity of a --kernel recording in the Perfetto export, inside
// the slice of the shim event it was attributed to (kernel_attribution.h):
//   - "compaction" child slices at their real begin and end (from
//     kernel_compactions), each inside the innermost slice of the event that
//     holds its begin, clipped to it (args keep the real times);
//   - the register phase of a registration split into "pin" and
//     "iommu map" (or "dma map") children; without an IOMMU one "pin"
//     child spans the phase and says so;
//   - faults, IOMMU and DMA maps and compaction stalls as instant events at
//     their times while an event has at most 256 of a kind (the timestamps
//     the attribution keeps), above that as a counter of events per
//     millisecond per bucket (at most 128 buckets), with one instant saying
//     so: the trace stays bounded whatever the kernel did.
//     Faults after the call returned (attributed by address) are process
//     instants / counters: the touching thread is not kept.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <utility>

#include "sqlite_db.h"

namespace hugeshim::collector {

// Where the export drew one shim event: its track and its slices, in
// CLOCK_MONOTONIC ns; a phase that was not drawn has begin == end.
struct EventSlices {
  int64_t pid, tid;  // tid: the lane's track id
  int64_t start, end;
  std::array<std::pair<int64_t, int64_t>, 4> phases;  // reserve, populate, lock, register
};

class PerfettoKernel {
 public:
  // Reads the attribution (building it into TEMP tables when the recording
  // has kernel events but no summaries). Call before any statement that
  // stays open while children are written.
  explicit PerfettoKernel(Database& db);

  // Emits the kernel children of event (process_id, ring_pos), if any.
  void write_children(int64_t process_id, int64_t ring_pos, const EventSlices& slices, int64_t origin,
                      const std::function<void(const nlohmann::json&)>& emit);

  static constexpr size_t kMaxCompactionSlices = 1000;

 private:
  struct Summary {
    std::string register_split;
    int64_t pin_ns = -1, map_ns = -1, iommu_maps = 0, dma_maps = 0;
    nlohmann::json timeline;
  };
  Database& db_;
  std::map<std::pair<int64_t, int64_t>, Summary> summaries_;
};

}  // namespace hugeshim::collector
