// What one scrape of the metrics sees: the processes writing rings, the
// exporter's running totals over every process it has seen, and the host's
// hugetlb pools and THP counters. Plain data: the sources fill it, the
// renderers (prometheus_exposition.h) print it.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "hugeshim/ring.h"
#include "metrics_process_identity.h"

namespace hugeshim::collector {

// The exact counters and histograms of a ring header (or a sum of them).
struct RingCounts {
  hugeshim_ring_api_counters counters[HUGESHIM_API_COUNT] = {};
  hugeshim_ring_histogram histograms[HUGESHIM_PHASE_COUNT][HUGESHIM_PAGE_COUNT] = {};
  uint64_t small_calls[HUGESHIM_API_COUNT] = {};

  void add(const RingCounts& other);
};

struct ProcessMetrics {
  int32_t pid = 0;
  ProcessIdentity identity;
  std::vector<std::string> gpu_bus_ids;  // the ring's GPU table, in its order
  uint64_t start_realtime_ns = 0;
  bool gone = false;  // exited (or exec'd): shown this one last time
  RingCounts counts;
};

// One hugetlb pool: a page size on one NUMA node (node -1: the whole host).
struct HugetlbPool {
  std::string page_size;  // "2M", "1G", as the ring names page classes
  uint64_t page_bytes = 0;
  int node = -1;
  uint64_t pages = 0;
  uint64_t free = 0;
  uint64_t surplus = 0;
  uint64_t reserved = 0;  // only the host-wide pools: the kernel keeps no per-node count
};

struct HostMemory {
  std::vector<HugetlbPool> node_pools;  // per NUMA node
  std::vector<HugetlbPool> host_pools;  // host-wide (reserved pages live here)
  std::vector<std::pair<std::string, uint64_t>> vmstat;  // the /proc/vmstat counters we export
};

struct RingDirectoryState {
  std::string path;
  bool readable = false;
};

struct MetricsSnapshot {
  std::vector<ProcessMetrics> processes;   // live ones, and gone ones for one last scrape
  RingCounts exited;                       // folded last values of processes no longer listed
  uint64_t processes_exited = 0;           // how many were folded
  uint64_t segments_rejected = 0;          // files in the directories refused as not ours / not rings
  std::vector<RingDirectoryState> directories;
  HostMemory host;
};

}  // namespace hugeshim::collector
