// Explicit hugetlb pools per page size and per NUMA node, and whether the
// 2 MiB pool can serve the pinned memory the server will ask for.
#include <algorithm>
#include <charconv>

#include "audit.h"
#include "byte_size.h"
#include "pool_advice.h"

namespace hugeshim::doctor {
namespace {

constexpr const char* kPools = "/sys/kernel/mm/hugepages";

std::optional<uint64_t> pool_dir_size_kb(const std::string& name) {
  // "hugepages-2048kB"
  constexpr std::string_view prefix = "hugepages-";
  if (name.rfind(prefix, 0) != 0 || name.size() < prefix.size() + 3 ||
      name.compare(name.size() - 2, 2, "kB") != 0)
    return std::nullopt;
  uint64_t kb;
  const char* first = name.data() + prefix.size();
  const char* last = name.data() + name.size() - 2;
  auto [p, ec] = std::from_chars(first, last, kb);
  if (ec != std::errc() || p != last || kb == 0) return std::nullopt;
  return kb;
}

std::string describe(const HugePool& p) {
  std::string s = std::to_string(p.total) + " pages (" +
                  format_bytes(static_cast<uint64_t>(p.total) * p.size_kb * 1024) + "), " +
                  std::to_string(p.free) + " free, " + std::to_string(p.reserved) +
                  " reserved, " + std::to_string(p.surplus) + " surplus";
  if (p.overcommit) s += ", overcommit up to " + std::to_string(p.overcommit);
  return s;
}

std::string node_list(const std::map<int, int>& gpus_per_node) {
  std::string s;
  for (const auto& [node, count] : gpus_per_node) s += (s.empty() ? "" : ", ") + std::to_string(node);
  return s;
}

// Appended when the advice asks for more memory than the host has free.
std::string memory_caveat(const HostSnapshot& host, const HugePool& pool,
                          const std::vector<PoolTarget>& targets) {
  int64_t added = 0;
  for (const auto& t : targets) {
    int64_t now = pool.total;
    if (t.node >= 0)
      for (const auto& n : pool.nodes)
        if (n.node == t.node) now = n.total;
    added += t.count - now;
  }
  auto avail = host.meminfo.mem_available_kb;
  if (!avail || added <= 0 || static_cast<uint64_t>(added) * pool.size_kb <= static_cast<uint64_t>(*avail))
    return "";
  return " The host has only " + format_bytes(static_cast<uint64_t>(*avail) * 1024) +
         " available: the kernel may give fewer pages than asked.";
}

void audit_pool_2m(const HostSnapshot& host, const HugePool& pool,
                   const AuditOptions& options, Findings& out) {
  const std::string subject = page_size_label(pool.size_kb);
  const std::optional<int64_t> needed =
      options.expect_pinned ? std::optional(pages_for(*options.expect_pinned, pool.size_kb))
                            : std::nullopt;
  const std::string need_text =
      needed ? " --expect-pinned " + format_bytes(*options.expect_pinned) + " needs " +
                   std::to_string(*needed) + " free " + subject + " pages."
             : "";
  const PoolPlacement place = pool_placement(host, pool);

  if (pool.total == 0 && pool.overcommit == 0) {
    if (needed) {
      auto targets = advise_pool(host, pool, *needed);
      out.push_back({"hugetlb.pool_missing", subject, Severity::warn,
                     "There is no " + subject +
                         " hugetlb pool: the shim's 2M rung falls back to THP or base pages, "
                         "and pinning base pages costs 512x more pages to pin and map." +
                         need_text + memory_caveat(host, pool, targets),
                     pool_fix_command(targets)});
    } else {
      out.push_back({"hugetlb.pool_missing", subject, Severity::info,
                     "There is no " + subject +
                         " hugetlb pool: the shim's 2M rung falls back to THP or base pages. "
                         "Size a pool to the pinned buffers the server will ask for.",
                     "hugeshim doctor --expect-pinned <SIZE>"});
    }
    return;
  }

  // Pages free, but none (or too few) on the nodes of the GPUs.
  std::vector<PoolTarget> move;
  if (place.node_local && place.free_elsewhere > 0) {
    if (needed) {
      auto targets = advise_pool(host, pool, *needed);
      bool shrinks_elsewhere = false;
      for (const auto& t : targets) shrinks_elsewhere |= !place.gpus_per_node.count(t.node);
      if (shrinks_elsewhere) move = targets;
    } else if (place.free_on_gpu_nodes == 0) {
      move = advise_pool(host, pool, place.free_elsewhere);
    }
  }
  if (!move.empty()) {
    out.push_back({"hugetlb.pool_wrong_node", subject, Severity::warn,
                   "The " + subject + " pool has " + std::to_string(place.free_on_gpu_nodes) +
                       " free pages on the GPUs' NUMA node(s) " + node_list(place.gpus_per_node) +
                       " and " + std::to_string(place.free_elsewhere) +
                       " on other nodes. The shim places CUDA pinned memory on its GPU's "
                       "node, where these pages cannot serve it: requests fall back to base "
                       "pages. Move the free pages to the GPU node(s)." +
                       need_text + memory_caveat(host, pool, move),
                   pool_fix_command(move)});
    return;
  }

  if (pool.available() <= 0 && pool.surplus >= pool.overcommit) {
    // Without a workload size, grow by as much again as there is now.
    auto targets = advise_pool(host, pool, needed.value_or(std::max<int64_t>(pool.total, 1)));
    out.push_back({"hugetlb.pool_exhausted", subject, Severity::warn,
                   "The " + subject + " pool is exhausted: " + describe(pool) +
                       ". Every new hugetlb mapping fails and the shim falls back to THP or "
                       "base pages." +
                       (needed ? need_text : " The fix doubles the pool; --expect-pinned sizes it.") +
                       memory_caveat(host, pool, targets),
                   pool_fix_command(targets)});
    return;
  }

  if (needed) {
    auto targets = advise_pool(host, pool, *needed);
    if (!targets.empty()) {
      out.push_back({"hugetlb.pool_too_small", subject, Severity::warn,
                     "The " + subject + " pool is too small for the expected pinned memory: " +
                         describe(pool) + "." + need_text + memory_caveat(host, pool, targets),
                     pool_fix_command(targets)});
      return;
    }
  }
  out.push_back({"hugetlb.pool", subject, Severity::ok,
                 "The " + subject + " pool has " + describe(pool) + "." +
                     (place.node_local ? " GPU node(s) " + node_list(place.gpus_per_node) +
                                             " hold " + std::to_string(place.free_on_gpu_nodes) +
                                             " free pages."
                                       : ""),
                 ""});
}

// Other page sizes (1G) are reported, and flagged only when in use and full.
void audit_other_pool(const HugePool& pool, Findings& out) {
  if (pool.total == 0 && pool.overcommit == 0) return;
  const std::string subject = page_size_label(pool.size_kb);
  if (pool.available() <= 0 && pool.surplus >= pool.overcommit) {
    PoolTarget t{pool.size_kb, -1, pool.total * 2};
    out.push_back({"hugetlb.pool_exhausted", subject, Severity::warn,
                   "The " + subject + " pool is exhausted: " + describe(pool) +
                       ". New " + subject +
                       " mappings fail and fall back to smaller pages. Large pages may only be "
                       "available at boot (hugepagesz=" + subject + " hugepages=N on the kernel "
                       "command line) once memory is fragmented.",
                   pool_fix_command({t})});
    return;
  }
  out.push_back({"hugetlb.pool", subject, Severity::ok,
                 "The " + subject + " pool has " + describe(pool) + ".", ""});
}

}  // namespace

std::vector<HugePool> read_hugetlb_pools(const HostFiles& files, const MemInfo& meminfo) {
  std::vector<HugePool> pools;
  const std::vector<int> nodes = read_numa_nodes(files);
  for (const auto& name : files.list(kPools)) {
    auto size_kb = pool_dir_size_kb(name);
    if (!size_kb) continue;
    const std::string dir = std::string(kPools) + "/" + name + "/";
    HugePool p;
    p.size_kb = *size_kb;
    p.total = files.read_int(dir + "nr_hugepages").value_or(0);
    p.free = files.read_int(dir + "free_hugepages").value_or(0);
    p.reserved = files.read_int(dir + "resv_hugepages").value_or(0);
    p.surplus = files.read_int(dir + "surplus_hugepages").value_or(0);
    p.overcommit = files.read_int(dir + "nr_overcommit_hugepages").value_or(0);
    for (int node : nodes) {
      const std::string nd =
          "/sys/devices/system/node/node" + std::to_string(node) + "/hugepages/" + name + "/";
      if (!files.exists(nd)) continue;
      NodePool n;
      n.node = node;
      n.total = files.read_int(nd + "nr_hugepages").value_or(0);
      n.free = files.read_int(nd + "free_hugepages").value_or(0);
      n.surplus = files.read_int(nd + "surplus_hugepages").value_or(0);
      p.nodes.push_back(n);
    }
    pools.push_back(p);
  }
  // Kernels or containers without the sysfs directory still show the
  // default pool in /proc/meminfo.
  if (pools.empty() && meminfo.hugepage_size_kb && meminfo.hugepages_total) {
    HugePool p;
    p.size_kb = static_cast<uint64_t>(*meminfo.hugepage_size_kb);
    p.total = *meminfo.hugepages_total;
    p.free = meminfo.hugepages_free.value_or(0);
    p.reserved = meminfo.hugepages_reserved.value_or(0);
    p.surplus = meminfo.hugepages_surplus.value_or(0);
    pools.push_back(p);
  }
  std::sort(pools.begin(), pools.end(),
            [](const HugePool& a, const HugePool& b) { return a.size_kb < b.size_kb; });
  return pools;
}

void audit_hugetlb_pools(const HostSnapshot& host, const AuditOptions& options, Findings& out) {
  if (host.pools.empty()) {
    out.push_back({"hugetlb.unsupported", "", Severity::warn,
                   "No hugetlb pools are visible (/sys/kernel/mm/hugepages is missing and "
                   "/proc/meminfo has no HugePages_Total): the kernel lacks CONFIG_HUGETLBFS "
                   "or the directory is hidden, so only THP and base pages are possible.",
                   ""});
    return;
  }
  for (const auto& pool : host.pools) {
    if (pool.size_kb == kPool2MKb) audit_pool_2m(host, pool, options, out);
    else audit_other_pool(pool, out);
  }
}

}  // namespace hugeshim::doctor
