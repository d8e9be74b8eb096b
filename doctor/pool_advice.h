// Sizing the 2 MiB pool: how many pages must be free, and where. CUDA
// pinned memory is placed on its GPU's NUMA node (HUGESHIM_NUMA=auto), so
// on a multi-node host with GPUs on known nodes the pages must be free on
// those nodes, split by the number of GPUs each holds; otherwise the global
// pool is sized.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "host_snapshot.h"
#include "pool_target.h"

namespace hugeshim::doctor {

constexpr uint64_t kPool2MKb = 2048;

struct PoolPlacement {
  bool node_local = false;           // size per GPU node rather than globally
  std::map<int, int> gpus_per_node;  // GPU nodes (those with a pool directory)
  int64_t free_on_gpu_nodes = 0;
  int64_t free_elsewhere = 0;  // free pages on nodes without a GPU
};

PoolPlacement pool_placement(const HostSnapshot& host, const HugePool& pool);

// Targets that leave at least `needed` pages free (on the GPU nodes when
// node-local). Free pages on other nodes are moved first: those nodes
// shrink by what the GPU nodes still lack (listed first, so their memory is
// released before the GPU nodes grow). Empty when nothing needs to change.
std::vector<PoolTarget> advise_pool(const HostSnapshot& host, const HugePool& pool,
                                    int64_t needed);

// Pages of `page_kb` that hold `bytes`, rounded up.
int64_t pages_for(uint64_t bytes, uint64_t page_kb);

}  // namespace hugeshim::doctor
