// The copies section of a report: host<->device copies measured by CUPTI
// (HUGESHIM_CUPTI=1, api "cudaMemcpy" events; ring.h says what their fields
// mean), per process:
//
// - bandwidth distributions by direction x size class x host backing. The
//   bandwidth of one copy is bytes / (end - start), the copy's own time on
//   the GPU, in GB/s (10^9 bytes per second). Per class: count, bytes, p50,
//   p99 (99% of the copies were at least this fast: the 99th percentile of
//   time per byte, nearest rank), min and max. Copies whose end is not after
//   their start are counted ("untimed") and left out of the distribution.
// - size classes: [0, 1 MiB), [1 MiB, 16 MiB), [16 MiB, 256 MiB), >= 256 MiB.
// - host backing: "pageable" (the driver staged the bytes through its own
//   pinned buffers), "pinned/1G" | "pinned/2M" | "pinned/thp" | "pinned/base"
//   (pinned memory in a shim region, flag REDIRECTED: the page class holding
//   most of the range's bytes), "pinned/shim" (in a shim region, page sizes
//   unknown), "pinned/native" (pinned, not from the shim), "managed",
//   "unknown".
// - the share of each direction's bytes that came from pageable memory.
// - the pin cost of the buffers the copies used: each copy is joined to the
//   pinning event of the same process (cudaHostAlloc, cudaMallocHost,
//   cudaHostRegister, cuMemHostAlloc, cuMemAllocHost, cuMemHostRegister;
//   successful) whose range [address, address + requested) holds the copy's
//   host address and which was alive when the copy started: it started
//   before the copy, and no release of that address (cudaFreeHost,
//   cuMemFreeHost, cudaHostUnregister, cuMemHostUnregister) started between
//   the two. Of several, the latest. Per class: the distinct buffers joined,
//   their bytes, and their register phase and whole call per GiB
//   (sum of ns / sum of GiB).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "sqlite_db.h"

namespace hugeshim::collector {

// The api name of copy events in a recording.
inline constexpr const char* kCopyApi = "cudaMemcpy";

// The copies section of process `process_id` (its JSON form is
// processes[i].copies of `report --format json`); null when the process
// recorded no copy, or the recording predates copy events.
nlohmann::json copy_report(Database& db, int64_t process_id);

// The text lines of one process's section.
void render_copies_text(const nlohmann::json& copies, std::ostream& out);

// The CSV table of every process's copy classes, written after the API
// table and a blank line; nothing when no process recorded copies.
void render_copies_csv(const nlohmann::json& report, std::ostream& out);

// A copy's host backing as named above, from its events row: host_memory
// (the stored name), flags and bytes per page class (1G, 2M, thp, base).
std::string copy_backing(const std::string& host_memory, int64_t flags, const int64_t page_bytes[4]);

// GB/s (10^9 bytes per second) of `bytes` in `ns`; 0 when ns is 0.
double copy_gbps(int64_t bytes, int64_t ns);

}  // namespace hugeshim::collector
