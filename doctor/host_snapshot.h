// What the doctor knows about a host: one read of every setting that
// decides whether huge pages will be there and whether THP hurts latency.
// Filled by read_host() (host_snapshot.cpp) through HostFiles; judged by the
// audit_* rules (audit.h); printed by the reports. Values the host does not
// expose stay nullopt/empty and are reported as unknown, never guessed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "host_files.h"
#include "hugeshim/topology.h"

namespace hugeshim::doctor {

struct KernelRelease {
  std::string release;  // /proc/sys/kernel/osrelease verbatim
  std::optional<std::pair<int, int>> version;  // (major, minor) when it parses
};

struct ThpSettings {
  bool present = false;  // /sys/kernel/mm/transparent_hugepage exists
  std::string enabled, defrag, shmem_enabled;  // the [selected] word of each file
  // The huge= option of the tmpfs mounted on /dev/shm ("never" when the
  // mount does not say); nullopt when /dev/shm is not a tmpfs mount or
  // /proc/mounts cannot be read. shmem_enabled does not govern /dev/shm:
  // it sets the policy of the kernel's internal mount (memfd, SysV shared
  // memory, shared anonymous mappings); only its 'deny' and 'force' reach
  // every tmpfs mount.
  std::optional<std::string> dev_shm_huge;
  std::optional<int64_t> khugepaged_defrag, pages_to_scan, scan_sleep_millisecs,
      alloc_sleep_millisecs, max_ptes_none;
};

struct NodePool {
  int node = 0;
  int64_t total = 0, free = 0, surplus = 0;
};

// One hugetlb page size: the global counters and the per-NUMA-node split.
struct HugePool {
  uint64_t size_kb = 0;
  int64_t total = 0, free = 0, reserved = 0, surplus = 0, overcommit = 0;
  std::vector<NodePool> nodes;  // empty on hosts without node directories
  // "free" counts reserved pages too; what a new mapping can still get:
  int64_t available() const { return free - reserved; }
};

struct MemInfo {
  std::optional<int64_t> mem_total_kb, mem_available_kb, hugepages_total, hugepages_free,
      hugepages_reserved, hugepages_surplus, hugepage_size_kb, hugetlb_kb;
};

// RLIMIT_MEMLOCK; nullopt means unlimited.
struct MemlockLimit {
  bool known = false;
  std::optional<uint64_t> soft, hard;
  std::string source;  // "getrlimit" or "/proc/self/limits"
};

// The tightest hugetlb limit of one page size between the audited cgroup
// and the root of its hierarchy; nullopt means no limit (the files say
// "max" or hold the page counter maximum, see cgroup_hugetlb.cpp).
struct CgroupHugetlbLimit {
  uint64_t size_kb = 0;
  std::optional<uint64_t> max;       // faults charged (hugetlb.<size>.max)
  std::string max_file;              // host path of the file that sets it
  bool rsvd_supported = false;       // reservation files exist (kernel >= 5.7)
  std::optional<uint64_t> rsvd_max;  // reservations charged (hugetlb.<size>.rsvd.max)
  std::string rsvd_file;             // host path of the rsvd file to write
};

struct CgroupHugetlb {
  int version = 0;          // 0: no hugetlb controller found, 1 or 2
  std::string path;         // cgroup path, e.g. "/system.slice/vllm.service"
  std::string dir;          // host directory of that cgroup
  std::vector<CgroupHugetlbLimit> limits;  // one per page size with files
};

struct HostSnapshot {
  std::string root;
  KernelRelease kernel;
  ThpSettings thp;
  std::vector<HugePool> pools;  // ascending page size
  MemInfo meminfo;
  std::vector<int> numa_nodes;  // node ids with a /sys/devices/system/node/nodeN dir
  MemlockLimit memlock;
  CgroupHugetlb cgroup;
  std::vector<PciDeviceInfo> gpus;
  std::vector<std::pair<std::string, std::string>> iommu_cmdline;  // option, value

  const HugePool* pool(uint64_t size_kb) const {
    for (const auto& p : pools)
      if (p.size_kb == size_kb) return &p;
    return nullptr;
  }
};

struct ReadOptions {
  // Audit this cgroup (a path such as "/system.slice/vllm.service")
  // instead of the doctor's own one from /proc/self/cgroup.
  std::optional<std::string> cgroup;
};

HostSnapshot read_host(const HostFiles& files, const ReadOptions& options);

// The per-domain readers read_host() is made of.
KernelRelease read_kernel_release(const HostFiles& files);
ThpSettings read_thp_settings(const HostFiles& files);
std::vector<HugePool> read_hugetlb_pools(const HostFiles& files, const MemInfo& meminfo);
MemInfo read_meminfo(const HostFiles& files);
std::vector<int> read_numa_nodes(const HostFiles& files);
MemlockLimit read_memlock_limit(const HostFiles& files);
CgroupHugetlb read_cgroup_hugetlb(const HostFiles& files, const std::vector<HugePool>& pools,
                                  const std::optional<std::string>& cgroup);
std::vector<PciDeviceInfo> read_gpus(const HostFiles& files);
std::vector<std::pair<std::string, std::string>> read_iommu_cmdline(const HostFiles& files);

// The word in brackets of a sysfs choice file ("always [madvise] never").
std::string selected_choice(const std::string& text);

}  // namespace hugeshim::doctor
