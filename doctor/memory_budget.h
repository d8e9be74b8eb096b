// How much memory `--apply` lets the hugetlb pools take: the rule that keeps
// a pool request from starving the host (docs/DOCTOR.md, "--apply").
//
// The pools of a scope (the host, or one NUMA node) may grow by at most
// what is available there now, less a reserve of max(10% of its MemTotal,
// 1 GiB). Said the other way round: after the change at least the reserve
// plus everything already used outside hugetlb stays outside hugetlb.
// "Available" is memory the kernel can hand out without swapping: free
// pages plus reclaimable page cache and slab. Shrinking a pool is never
// bounded.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "host_files.h"
#include "host_snapshot.h"

namespace hugeshim::doctor {

struct MemoryBudget {
  std::string scope;       // "the host", "node 1"
  int64_t total_kb = 0;     // MemTotal of the scope
  int64_t available_kb = 0;  // the kernel's MemAvailable, or the node estimate
  bool estimated = false;   // a node's estimate rather than the kernel's figure

  int64_t reserve_kb() const;
  // What the pools of the scope may still grow by; negative when the scope
  // is already below its reserve.
  int64_t growth_kb() const { return available_kb - reserve_kb(); }
  // "the host can spare 18.6 GiB for more huge pages (MemAvailable 21 GiB
  // less a reserve of 2.3 GiB, the larger of 10% of MemTotal 23.4 GiB and 1 GiB)"
  std::string describe() const;
};

// The host as a whole, from /proc/meminfo; nullopt without MemTotal and
// MemAvailable (kernels before 3.14).
std::optional<MemoryBudget> host_memory_budget(const MemInfo& meminfo);

// One NUMA node, from /sys/devices/system/node/nodeN/meminfo, which has no
// MemAvailable: available is estimated as MemFree + Active(file) +
// Inactive(file) + KReclaimable (SReclaimable before 4.20). nullopt when
// the file or its MemTotal/MemFree cannot be read.
std::optional<MemoryBudget> node_memory_budget(const HostFiles& files, int node);

// Host path of a node's meminfo, for messages.
std::string node_meminfo_path(int node);

}  // namespace hugeshim::doctor
