// Test double for a host's /proc and /sys: a temporary directory holding
// the files the doctor and the topology code read. It starts as a healthy,
// single-node inference host without a GPU (THP madvise/never, shmem
// advise, /dev/shm mounted huge=advise, a 512-page 2 MiB pool, no cgroup
// hugetlb limit, memlock unlimited, kernel 6.8) and
// each test changes what its scenario needs.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace hugeshim::test {

class SysfsTreeDouble {
 public:
  SysfsTreeDouble() {
    std::string templ = (std::filesystem::temp_directory_path() / "hugeshim-sysfs-XXXXXX").string();
    if (!mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
    root_ = templ;
    write_baseline();
  }
  ~SysfsTreeDouble() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  SysfsTreeDouble(const SysfsTreeDouble&) = delete;
  SysfsTreeDouble& operator=(const SysfsTreeDouble&) = delete;

  const std::string& root() const { return root_; }
  std::string path(const std::string& host_path) const { return root_ + host_path; }

  void write(const std::string& host_path, const std::string& content) {
    std::filesystem::create_directories(std::filesystem::path(path(host_path)).parent_path());
    std::ofstream(path(host_path)) << content << "\n";
  }
  std::string read(const std::string& host_path) const {
    std::ifstream in(path(host_path));
    std::string s;
    std::getline(in, s);
    return s;
  }
  void remove(const std::string& host_path) { std::filesystem::remove_all(path(host_path)); }
  void symlink(const std::string& host_path, const std::string& target) {
    std::filesystem::create_directories(std::filesystem::path(path(host_path)).parent_path());
    std::filesystem::create_symlink(target, path(host_path));
  }

  void set_kernel(const std::string& release) { write("/proc/sys/kernel/osrelease", release); }

  // Sysfs spelling: "always [madvise] never".
  void set_thp(const std::string& enabled, const std::string& defrag) {
    write(kThp + "/enabled", bracket(enabled, {"always", "madvise", "never"}));
    write(kThp + "/defrag",
          bracket(defrag, {"always", "defer", "defer+madvise", "madvise", "never"}));
  }
  void set_shmem_thp(const std::string& mode) {
    write(kThp + "/shmem_enabled",
          bracket(mode, {"always", "within_size", "advise", "never", "deny", "force"}));
  }

  // /proc/mounts with /dev/shm mounted as `type` with `options`
  // ("rw,nosuid,nodev,huge=advise").
  void set_dev_shm(const std::string& options, const std::string& type = "tmpfs") {
    write("/proc/mounts", "proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n" + type +
                              " /dev/shm " + type + " " + options + " 0 0");
  }

  void set_pool(int size_kb, int total, int free, int reserved = 0, int surplus = 0,
                int overcommit = 0) {
    std::string d = "/sys/kernel/mm/hugepages/hugepages-" + std::to_string(size_kb) + "kB/";
    write(d + "nr_hugepages", std::to_string(total));
    write(d + "free_hugepages", std::to_string(free));
    write(d + "resv_hugepages", std::to_string(reserved));
    write(d + "surplus_hugepages", std::to_string(surplus));
    write(d + "nr_overcommit_hugepages", std::to_string(overcommit));
  }
  void set_node_pool(int node, int size_kb, int total, int free, int surplus = 0) {
    std::string d = "/sys/devices/system/node/node" + std::to_string(node) +
                    "/hugepages/hugepages-" + std::to_string(size_kb) + "kB/";
    write(d + "nr_hugepages", std::to_string(total));
    write(d + "free_hugepages", std::to_string(free));
    write(d + "surplus_hugepages", std::to_string(surplus));
  }

  // A PCI function; iommu_group < 0 leaves out the iommu_group link, an
  // empty iommu_type leaves out the group's type file.
  void add_pci_device(const std::string& bdf, const std::string& vendor, const std::string& cls,
                      int numa_node, int iommu_group, const std::string& iommu_type,
                      const std::string& cpulist = "0-15") {
    std::string d = "/sys/bus/pci/devices/" + bdf;
    write(d + "/vendor", vendor);
    write(d + "/class", cls);
    write(d + "/numa_node", std::to_string(numa_node));
    write(d + "/local_cpulist", cpulist);
    if (iommu_group >= 0) {
      std::string g = "/sys/kernel/iommu_groups/" + std::to_string(iommu_group);
      std::filesystem::create_directories(path(g));
      if (!iommu_type.empty()) write(g + "/type", iommu_type);
      // Relative, as sysfs has it, so it must not be followed as a host path.
      symlink(d + "/iommu_group", "../../../../kernel/iommu_groups/" + std::to_string(iommu_group));
    }
  }
  void add_gpu(const std::string& bdf, int numa_node, int iommu_group,
               const std::string& iommu_type, const std::string& cpulist = "0-15") {
    add_pci_device(bdf, "0x10de", "0x030200", numa_node, iommu_group, iommu_type, cpulist);
  }

  void add_numa_node(int node) {
    std::filesystem::create_directories(path("/sys/devices/system/node/node" + std::to_string(node)));
  }
  // The node's meminfo as the kernel spells it ("Node 1 MemTotal: ... kB");
  // the doctor bounds a node's pool by it on hosts with several nodes.
  void set_node_meminfo(int node, long total_kb, long free_kb, long file_kb = 0) {
    std::string n = "Node " + std::to_string(node) + " ";
    write("/sys/devices/system/node/node" + std::to_string(node) + "/meminfo",
          n + "MemTotal:       " + std::to_string(total_kb) + " kB\n" +
          n + "MemFree:        " + std::to_string(free_kb) + " kB\n" +
          n + "MemUsed:        " + std::to_string(total_kb - free_kb) + " kB\n" +
          n + "Active(file):   0 kB\n" +
          n + "Inactive(file): " + std::to_string(file_kb) + " kB\n" +
          n + "KReclaimable:   0 kB\n" +
          n + "HugePages_Total:     0");
  }

  // Replaces a file with one that reads but refuses every write, even
  // root's, as a sysfs file can: a link to /proc/sys/kernel/ngroups_max
  // (mode 0444, always 65536). Root ignores file modes in a temp dir.
  void make_unwritable(const std::string& host_path) {
    remove(host_path);
    symlink(host_path, "/proc/sys/kernel/ngroups_max");
  }

  // The process's cgroup (v2) and its hugetlb files.
  void set_cgroup_v2(const std::string& cgroup_path) {
    write("/proc/self/cgroup", "0::" + cgroup_path);
    write("/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids");
    std::filesystem::create_directories(path("/sys/fs/cgroup" + cgroup_path));
  }

  void set_memlock(const std::string& soft, const std::string& hard) {
    write("/proc/self/limits",
          "Limit                     Soft Limit           Hard Limit           Units     \n"
          "Max open files            1024                 1048576              files     \n"
          "Max locked memory         " + pad(soft) + pad(hard) + "bytes     ");
  }

 private:
  inline static const std::string kThp = "/sys/kernel/mm/transparent_hugepage";

  static std::string bracket(const std::string& chosen, std::initializer_list<const char*> all) {
    std::string s;
    for (const char* w : all) {
      if (!s.empty()) s += ' ';
      s += chosen == w ? "[" + std::string(w) + "]" : std::string(w);
    }
    return s;
  }
  static std::string pad(const std::string& s) { return s + std::string(s.size() < 21 ? 21 - s.size() : 1, ' '); }

  void write_baseline() {
    set_kernel("6.8.0-45-generic");
    set_thp("madvise", "never");
    set_shmem_thp("advise");
    set_dev_shm("rw,nosuid,nodev,huge=advise");
    write(kThp + "/khugepaged/defrag", "1");
    write(kThp + "/khugepaged/pages_to_scan", "4096");
    write(kThp + "/khugepaged/scan_sleep_millisecs", "10000");
    write(kThp + "/khugepaged/alloc_sleep_millisecs", "60000");
    write(kThp + "/khugepaged/max_ptes_none", "511");
    add_numa_node(0);
    set_pool(2048, 512, 512);
    set_node_pool(0, 2048, 512, 512);
    set_pool(1048576, 0, 0);
    set_node_pool(0, 1048576, 0, 0);
    write("/proc/meminfo",
          "MemTotal:       24576000 kB\n"
          "MemFree:        20000000 kB\n"
          "MemAvailable:   22000000 kB\n"
          "HugePages_Total:     512\n"
          "HugePages_Free:      512\n"
          "HugePages_Rsvd:        0\n"
          "HugePages_Surp:        0\n"
          "Hugepagesize:       2048 kB\n"
          "Hugetlb:         1048576 kB");
    set_memlock("unlimited", "unlimited");
    set_cgroup_v2("/system.slice/inference.service");
    write("/sys/fs/cgroup/system.slice/inference.service/hugetlb.2MB.max", "max");
    write("/sys/fs/cgroup/system.slice/inference.service/hugetlb.2MB.rsvd.max", "max");
    write("/proc/cmdline", "BOOT_IMAGE=/vmlinuz-6.8.0 root=/dev/sda1 ro quiet");
    // A host bridge and an NVIDIA HDMI audio function: neither is a GPU.
    add_pci_device("0000:00:00.0", "0x8086", "0x060000", -1, 0, "DMA");
    add_pci_device("0000:01:00.1", "0x10de", "0x040300", 0, 13, "DMA");
  }

  std::string root_;
};

}  // namespace hugeshim::test
