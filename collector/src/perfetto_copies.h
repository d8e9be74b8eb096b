// Copies measured by CUPTI (api "cudaMemcpy" events) in the Perfetto export:
// one complete ("X") slice per copy from its start to its end on the GPU, on
// a track of its process named "GPU copies (stream N)" (one per CUDA stream
// id), named "HtoD 64.0 MiB pinned/2M 21.3 GB/s": direction, bytes, host
// backing (report_copies.h) and bandwidth in GB/s (10^9 bytes/s). Copies on
// one stream run one after another; one that overlaps the previous (clock
// conversion, a damaged recording) goes on a track "GPU copies (stream N,
// overlap K)", so no track has slices that do not nest.
//
// A copy track is a thread track with a synthetic tid: kCopyTrackTid plus the
// track's index within its process (in order of first appearance), above the
// tids the thread tracks use (real tids below 2^22 and their overlap lanes).
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>

#include "sqlite_db.h"

namespace hugeshim::collector {

inline constexpr int64_t kCopyTrackTid = 0x7f000000;

// Hands every trace event of the copies (track names, slices) to `add`, with
// times in microseconds after `origin_ns` (the trace's origin).
void write_copy_slices(Database& db, int64_t origin_ns, const std::function<void(const nlohmann::json&)>& add);

}  // namespace hugeshim::collector
