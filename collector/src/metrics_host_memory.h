// The host's side of huge pages: hugetlb pools per page size and NUMA node
// (sysfs) and the kernel's THP and compaction event counters (/proc/vmstat).
#pragma once

#include <string>

#include "metrics_snapshot.h"

namespace hugeshim::collector {

// Reads below `root` ("/" on a host; a fake tree in tests). Pools or
// counters that cannot be read are left out, never guessed.
HostMemory read_host_memory(const std::string& root = "/");

// The /proc/vmstat counters exported, in order, with their help text.
struct VmstatCounter {
  const char* name;
  const char* help;
};
extern const VmstatCounter kVmstatCounters[];
extern const size_t kVmstatCounterCount;

}  // namespace hugeshim::collector
