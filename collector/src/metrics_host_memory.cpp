#include "metrics_host_memory.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

namespace hugeshim::collector {

const VmstatCounter kVmstatCounters[] = {
    {"thp_fault_alloc", "Page faults served with a transparent huge page."},
    {"thp_fault_fallback", "Page faults that wanted a transparent huge page and got base pages."},
    {"thp_fault_fallback_charge", "THP fault fallbacks because the memory cgroup charge failed."},
    {"thp_collapse_alloc", "Transparent huge pages assembled by khugepaged."},
    {"thp_collapse_alloc_failed", "khugepaged collapses that could not allocate a huge page."},
    {"thp_split_page", "Transparent huge pages split into base pages."},
    {"compact_stall", "Allocations that stalled in direct compaction."},
    {"compact_fail", "Direct compactions that did not free a large enough block."},
    {"compact_success", "Direct compactions that freed a large enough block."},
    {"htlb_buddy_alloc_success", "hugetlb pages allocated from the buddy allocator (pool growth, surplus)."},
    {"htlb_buddy_alloc_fail", "hugetlb pages the buddy allocator could not provide."},
};
const size_t kVmstatCounterCount = sizeof kVmstatCounters / sizeof kVmstatCounters[0];

namespace {

namespace fs = std::filesystem;

bool read_number(const fs::path& file, uint64_t* out) {
  std::ifstream in(file);
  return static_cast<bool>(in >> *out);
}

// "hugepages-2048kB" -> 2 MiB pages, named "2M".
bool parse_pool_dir(const std::string& name, uint64_t* page_bytes, std::string* label) {
  const std::string prefix = "hugepages-", suffix = "kB";
  if (name.size() <= prefix.size() + suffix.size() || name.rfind(prefix, 0) != 0 ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return false;
  const std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.size() > 12 || digits.find_first_not_of("0123456789") != std::string::npos) return false;
  const uint64_t kb = std::stoull(digits);
  if (kb == 0) return false;
  *page_bytes = kb * 1024;
  if (kb % (1024 * 1024) == 0) *label = std::to_string(kb / (1024 * 1024)) + "G";
  else if (kb % 1024 == 0) *label = std::to_string(kb / 1024) + "M";
  else *label = std::to_string(kb) + "K";
  return true;
}

// The pools under one hugepages/ directory, sorted by page size.
std::vector<HugetlbPool> read_pools(const fs::path& dir, int node, bool with_reserved) {
  std::vector<HugetlbPool> pools;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    HugetlbPool p;
    p.node = node;
    if (!parse_pool_dir(it->path().filename().string(), &p.page_bytes, &p.page_size)) continue;
    if (!read_number(it->path() / "nr_hugepages", &p.pages) || !read_number(it->path() / "free_hugepages", &p.free))
      continue;
    read_number(it->path() / "surplus_hugepages", &p.surplus);
    if (with_reserved) read_number(it->path() / "resv_hugepages", &p.reserved);
    pools.push_back(p);
  }
  std::sort(pools.begin(), pools.end(), [](const HugetlbPool& a, const HugetlbPool& b) { return a.page_bytes < b.page_bytes; });
  return pools;
}

}  // namespace

HostMemory read_host_memory(const std::string& root) {
  HostMemory host;
  const fs::path base(root);
  host.host_pools = read_pools(base / "sys/kernel/mm/hugepages", -1, true);
  std::map<int, fs::path> nodes;
  std::error_code ec;
  for (fs::directory_iterator it(base / "sys/devices/system/node", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    int n = -1;
    if (name.rfind("node", 0) == 0 && sscanf(name.c_str() + 4, "%d", &n) == 1 && n >= 0 &&
        std::to_string(n) == name.substr(4))
      nodes[n] = it->path();
  }
  for (const auto& [n, path] : nodes)
    for (HugetlbPool& p : read_pools(path / "hugepages", n, false)) host.node_pools.push_back(std::move(p));

  std::map<std::string, uint64_t> vmstat;
  std::ifstream in(base / "proc/vmstat");
  std::string key;
  uint64_t value = 0;
  while (in >> key >> value) vmstat[key] = value;
  for (size_t i = 0; i < kVmstatCounterCount; ++i)
    if (auto it = vmstat.find(kVmstatCounters[i].name); it != vmstat.end()) host.vmstat.emplace_back(it->first, it->second);
  return host;
}

}  // namespace hugeshim::collector
