#include "host_snapshot.h"

#include <algorithm>
#include <charconv>
#include <sstream>

namespace hugeshim::doctor {

std::string selected_choice(const std::string& text) {
  auto open = text.find('[');
  auto close = text.find(']', open);
  if (open == std::string::npos || close == std::string::npos) return text;
  return text.substr(open + 1, close - open - 1);
}

MemInfo read_meminfo(const HostFiles& files) {
  MemInfo m;
  auto text = files.read("/proc/meminfo");
  if (!text) return m;
  std::istringstream lines(*text);
  std::string key;
  int64_t value;
  // "MemTotal:       24576000 kB": key, number, then an optional unit.
  while (lines >> key >> value) {
    if (key == "MemTotal:") m.mem_total_kb = value;
    else if (key == "MemAvailable:") m.mem_available_kb = value;
    else if (key == "HugePages_Total:") m.hugepages_total = value;
    else if (key == "HugePages_Free:") m.hugepages_free = value;
    else if (key == "HugePages_Rsvd:") m.hugepages_reserved = value;
    else if (key == "HugePages_Surp:") m.hugepages_surplus = value;
    else if (key == "Hugepagesize:") m.hugepage_size_kb = value;
    else if (key == "Hugetlb:") m.hugetlb_kb = value;
    lines.ignore(4096, '\n');
  }
  return m;
}

std::vector<int> read_numa_nodes(const HostFiles& files) {
  std::vector<int> nodes;
  for (const auto& name : files.list("/sys/devices/system/node")) {
    int n;
    if (name.rfind("node", 0) != 0) continue;
    auto [p, ec] = std::from_chars(name.data() + 4, name.data() + name.size(), n);
    if (ec == std::errc() && p == name.data() + name.size()) nodes.push_back(n);
  }
  std::sort(nodes.begin(), nodes.end());
  return nodes;
}

std::vector<PciDeviceInfo> read_gpus(const HostFiles& files) {
  PciDeviceInfo found[64];
  int n = topology_list_gpus(files.root().empty() ? "/" : files.root().c_str(), found, 64);
  return std::vector<PciDeviceInfo>(found, found + n);
}

std::vector<std::pair<std::string, std::string>> read_iommu_cmdline(const HostFiles& files) {
  std::vector<std::pair<std::string, std::string>> options;
  auto text = files.read("/proc/cmdline");
  if (!text) return options;
  std::istringstream words(*text);
  for (std::string word; words >> word;) {
    if (word == "--") break;  // the rest belongs to init
    auto eq = word.find('=');
    std::string key = word.substr(0, eq);
    if (key == "intel_iommu" || key == "amd_iommu" || key == "iommu" ||
        key == "iommu.passthrough" || key == "iommu.strict")
      options.emplace_back(key, eq == std::string::npos ? "" : word.substr(eq + 1));
  }
  return options;
}

HostSnapshot read_host(const HostFiles& files, const ReadOptions& options) {
  HostSnapshot h;
  h.root = files.root().empty() ? "/" : files.root();
  h.kernel = read_kernel_release(files);
  h.thp = read_thp_settings(files);
  h.meminfo = read_meminfo(files);
  h.pools = read_hugetlb_pools(files, h.meminfo);
  h.numa_nodes = read_numa_nodes(files);
  h.memlock = read_memlock_limit(files);
  h.cgroup = read_cgroup_hugetlb(files, h.pools, options.cgroup);
  h.gpus = read_gpus(files);
  h.iommu_cmdline = read_iommu_cmdline(files);
  return h;
}

}  // namespace hugeshim::doctor
