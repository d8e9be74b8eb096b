#include "pool_advice.h"

#include <algorithm>

namespace hugeshim::doctor {
namespace {

const NodePool* node_pool(const HugePool& pool, int node) {
  for (const auto& n : pool.nodes)
    if (n.node == node) return &n;
  return nullptr;
}

}  // namespace

int64_t pages_for(uint64_t bytes, uint64_t page_kb) {
  uint64_t page = page_kb * 1024;
  return static_cast<int64_t>((bytes + page - 1) / page);
}

PoolPlacement pool_placement(const HostSnapshot& host, const HugePool& pool) {
  PoolPlacement p;
  for (const auto& gpu : host.gpus)
    if (gpu.numa_node >= 0 && node_pool(pool, gpu.numa_node)) ++p.gpus_per_node[gpu.numa_node];
  p.node_local = !p.gpus_per_node.empty() && pool.nodes.size() > 1;
  for (const auto& n : pool.nodes)
    (p.gpus_per_node.count(n.node) ? p.free_on_gpu_nodes : p.free_elsewhere) += n.free;
  return p;
}

std::vector<PoolTarget> advise_pool(const HostSnapshot& host, const HugePool& pool,
                                    int64_t needed) {
  std::vector<PoolTarget> targets;
  PoolPlacement place = pool_placement(host, pool);
  if (!place.node_local) {
    int64_t shortfall = needed - std::max<int64_t>(pool.available(), 0);
    if (shortfall > 0) targets.push_back({pool.size_kb, -1, pool.total + shortfall});
    return targets;
  }

  int gpus = 0;
  for (const auto& [node, count] : place.gpus_per_node) gpus += count;
  std::vector<PoolTarget> grows;
  int64_t lacking = 0;
  for (const auto& [node, count] : place.gpus_per_node) {
    const NodePool* n = node_pool(pool, node);
    int64_t need = (needed * count + gpus - 1) / gpus;
    if (n->free < need) {
      grows.push_back({pool.size_kb, node, n->total + need - n->free});
      lacking += need - n->free;
    }
  }
  for (const auto& n : pool.nodes) {
    if (lacking == 0) break;
    if (place.gpus_per_node.count(n.node) || n.free == 0) continue;
    int64_t give = std::min(n.free, lacking);
    targets.push_back({pool.size_kb, n.node, n.total - give});
    lacking -= give;
  }
  targets.insert(targets.end(), grows.begin(), grows.end());
  return targets;
}

}  // namespace hugeshim::doctor
