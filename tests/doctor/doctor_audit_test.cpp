// The doctor's audit over fake host trees: each scenario of issue 6 gives
// the expected finding id, severity and fix.
#define BOOST_TEST_MODULE doctor_audit
#include <boost/test/unit_test.hpp>

#include "audit.h"
#include "sysfs_tree_double.h"

namespace hugeshim::doctor {
// Lets Boost.Test print a severity that differs from the expected one.
std::ostream& operator<<(std::ostream& out, Severity s) { return out << severity_name(s); }
}  // namespace hugeshim::doctor

using namespace hugeshim::doctor;
using hugeshim::test::SysfsTreeDouble;

namespace {

Findings audit_tree(const SysfsTreeDouble& tree, AuditOptions options = {},
                    ReadOptions read = {}) {
  return audit(read_host(HostFiles(tree.root()), read), options);
}

const Finding* find(const Findings& findings, const std::string& id,
                    const std::string& subject = "") {
  for (const auto& f : findings)
    if (f.id == id && f.subject == subject) return &f;
  return nullptr;
}

// A copy of the finding, which must exist, else the test stops with what
// there was.
Finding require(const Findings& findings, const std::string& id,
                       const std::string& subject = "") {
  const Finding* f = find(findings, id, subject);
  if (!f) {
    std::string all;
    for (const auto& x : findings) all += " " + x.id + "(" + x.subject + ")";
    BOOST_FAIL("no finding " << id << "(" << subject << "); have:" << all);
  }
  return *f;
}

constexpr uint64_t kGiB = 1ull << 30;

}  // namespace

BOOST_AUTO_TEST_CASE(healthy_host_has_nothing_to_fix) {
  SysfsTreeDouble tree;
  Findings f = audit_tree(tree);
  BOOST_TEST(worst_severity(f) == Severity::info);
  BOOST_TEST(exit_status_for(worst_severity(f)) == 0);
  BOOST_TEST(require(f, "thp.enabled").severity == Severity::ok);
  BOOST_TEST(require(f, "thp.defrag").severity == Severity::ok);
  BOOST_TEST(require(f, "hugetlb.pool", "2M").severity == Severity::ok);
  BOOST_TEST(require(f, "memlock.limit").severity == Severity::ok);
  BOOST_TEST(require(f, "cgroup.hugetlb").severity == Severity::ok);
  BOOST_TEST(!find(f, "kernel.single_pin_limit"));
}

BOOST_AUTO_TEST_CASE(no_gpu) {
  SysfsTreeDouble tree;  // an NVIDIA audio function and an Intel bridge only
  HostSnapshot host = read_host(HostFiles(tree.root()), {});
  BOOST_TEST(host.gpus.empty());
  Findings f = audit(host, {});
  Finding none = require(f, "gpu.none");
  BOOST_TEST(none.severity == Severity::info);
  BOOST_TEST(none.fix.empty());
  BOOST_TEST(!find(f, "gpu.iommu", "0000:01:00.1"));
}

BOOST_AUTO_TEST_CASE(gpu_with_identity_iommu_and_gpu_with_dma_fq) {
  SysfsTreeDouble tree;
  tree.add_gpu("0000:17:00.0", 0, 20, "identity", "0-15");
  tree.add_gpu("0000:65:00.0", 0, 40, "DMA-FQ", "0-15");
  tree.write("/proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/sda1 intel_iommu=on quiet");
  Findings f = audit_tree(tree);

  Finding identity = require(f, "gpu.iommu", "0000:17:00.0");
  BOOST_TEST(identity.severity == Severity::ok);
  BOOST_TEST(identity.fix.empty());

  Finding translated = require(f, "gpu.iommu", "0000:65:00.0");
  BOOST_TEST(translated.severity == Severity::warn);
  BOOST_TEST(translated.explanation.find("DMA-FQ") != std::string::npos);
  BOOST_TEST(translated.explanation.find("intel_iommu=on") != std::string::npos);
  BOOST_TEST(translated.fix ==
             "sed -i 's/^GRUB_CMDLINE_LINUX=\"/&iommu=pt /' /etc/default/grub && update-grub && "
             "reboot");
  BOOST_TEST(require(f, "gpu.numa", "0000:65:00.0").severity == Severity::ok);
  BOOST_TEST(require(f, "iommu.cmdline").explanation.find("intel_iommu=on") != std::string::npos);
  BOOST_TEST(!find(f, "gpu.none"));
  BOOST_TEST(exit_status_for(worst_severity(f)) == 1);
}

BOOST_AUTO_TEST_CASE(strict_dma_is_flagged_too) {
  SysfsTreeDouble tree;
  tree.add_gpu("0000:17:00.0", 0, 20, "DMA");
  Finding g = require(audit_tree(tree), "gpu.iommu", "0000:17:00.0");
  BOOST_TEST(g.severity == Severity::warn);
  BOOST_TEST(g.explanation.find("strict") != std::string::npos);
}

struct TwoNodeHost {
  // GPU on node 1, the whole 2 MiB pool on node 0.
  TwoNodeHost() {
    tree.add_numa_node(1);
    tree.set_node_pool(0, 2048, 512, 512);
    tree.set_node_pool(1, 2048, 0, 0);
    tree.set_node_pool(1, 1048576, 0, 0);
    tree.add_gpu("0000:b1:00.0", 1, 80, "identity", "16-31");
  }
  SysfsTreeDouble tree;
};

BOOST_FIXTURE_TEST_CASE(two_nodes_with_the_pool_on_the_wrong_node, TwoNodeHost) {
  Findings f = audit_tree(tree);
  Finding wrong = require(f, "hugetlb.pool_wrong_node", "2M");
  BOOST_TEST(wrong.severity == Severity::warn);
  // The free pages move to the GPU's node: node 0 first shrinks, node 1 grows.
  BOOST_TEST(wrong.fix == "hugeshim doctor --apply --pool 2M:0@0 --pool 2M:512@1");
  BOOST_TEST(!find(f, "hugetlb.pool", "2M"));
}

BOOST_FIXTURE_TEST_CASE(wrong_node_advice_follows_expected_pinned_size, TwoNodeHost) {
  AuditOptions o;
  o.expect_pinned = 2 * kGiB;  // 1024 pages, all on node 1
  Finding wrong = require(audit_tree(tree, o), "hugetlb.pool_wrong_node", "2M");
  BOOST_TEST(wrong.fix == "hugeshim doctor --apply --pool 2M:0@0 --pool 2M:1024@1");
  BOOST_TEST(wrong.explanation.find("needs 1024 free 2M pages") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(pool_on_the_gpu_node_is_fine, TwoNodeHost) {
  tree.set_node_pool(0, 2048, 0, 0);
  tree.set_node_pool(1, 2048, 512, 512);
  Findings f = audit_tree(tree);
  BOOST_TEST(require(f, "hugetlb.pool", "2M").severity == Severity::ok);
  BOOST_TEST(!find(f, "hugetlb.pool_wrong_node", "2M"));
}

BOOST_AUTO_TEST_CASE(gpus_on_two_nodes_split_the_advice) {
  SysfsTreeDouble tree;
  tree.add_numa_node(1);
  tree.set_pool(2048, 0, 0);
  tree.set_node_pool(0, 2048, 0, 0);
  tree.set_node_pool(1, 2048, 0, 0);
  tree.add_gpu("0000:17:00.0", 0, -1, "");
  tree.add_gpu("0000:b1:00.0", 1, -1, "");
  AuditOptions o;
  o.expect_pinned = 4 * kGiB;  // 2048 pages, half per GPU node
  Finding missing = require(audit_tree(tree, o), "hugetlb.pool_missing", "2M");
  BOOST_TEST(missing.severity == Severity::warn);
  BOOST_TEST(missing.fix == "hugeshim doctor --apply --pool 2M:1024@0 --pool 2M:1024@1");
}

BOOST_AUTO_TEST_CASE(gpu_with_unknown_node_on_a_two_node_host) {
  SysfsTreeDouble tree;
  tree.add_numa_node(1);
  tree.add_gpu("0000:17:00.0", -1, -1, "");
  Finding g = require(audit_tree(tree), "gpu.numa", "0000:17:00.0");
  BOOST_TEST(g.severity == Severity::warn);
  BOOST_TEST(g.fix == "export HUGESHIM_NUMA=<NODE>");
}

BOOST_AUTO_TEST_CASE(thp_always_with_defrag_always_is_a_latency_risk) {
  SysfsTreeDouble tree;
  tree.set_thp("always", "always");
  Findings f = audit_tree(tree);
  Finding enabled = require(f, "thp.enabled");
  BOOST_TEST(enabled.severity == Severity::warn);
  BOOST_TEST(enabled.fix == "hugeshim doctor --apply --thp madvise");
  Finding defrag = require(f, "thp.defrag");
  BOOST_TEST(defrag.severity == Severity::warn);
  BOOST_TEST(defrag.explanation.find("every anonymous fault") != std::string::npos);
  BOOST_TEST(defrag.fix == "hugeshim doctor --apply --defrag never");
  BOOST_TEST(require(f, "thp.khugepaged").severity == Severity::info);
  BOOST_TEST(exit_status_for(worst_severity(f)) == 1);
}

BOOST_AUTO_TEST_CASE(defrag_madvise_is_information_and_never_thp_makes_defrag_moot) {
  SysfsTreeDouble tree;
  tree.set_thp("madvise", "madvise");
  BOOST_TEST(require(audit_tree(tree), "thp.defrag").severity == Severity::info);
  tree.set_thp("never", "always");
  Findings f = audit_tree(tree);
  BOOST_TEST(require(f, "thp.defrag").severity == Severity::ok);
  BOOST_TEST(require(f, "thp.enabled").severity == Severity::info);
}

// Issue 12 item 1: the shim advises MADV_HUGEPAGE on shared memory a program registers with
// CUDA; shmem_enabled decides it for memfd, SysV and shared anonymous memory, /dev/shm's huge=
// mount option for /dev/shm (shmem_enabled reaches it only with deny and force).
BOOST_AUTO_TEST_CASE(shmem_thp_never_is_a_warning_on_gpu_hosts_only) {
  SysfsTreeDouble tree;
  tree.set_shmem_thp("never");
  Finding plain = require(audit_tree(tree), "thp.shmem_enabled");
  BOOST_TEST(plain.severity == Severity::info);
  BOOST_TEST(plain.fix == "hugeshim doctor --apply --shmem advise");

  tree.add_gpu("0000:17:00.0", 0, 20, "identity");
  Finding gpu = require(audit_tree(tree), "thp.shmem_enabled");
  BOOST_TEST(gpu.severity == Severity::warn);
  BOOST_TEST(gpu.fix == "hugeshim doctor --apply --shmem advise");
  BOOST_TEST(gpu.explanation.find("CUDA") != std::string::npos, gpu.explanation);

  for (const char* mode : {"advise", "within_size", "always"}) {
    tree.set_shmem_thp(mode);
    Finding ok = require(audit_tree(tree), "thp.shmem_enabled");
    BOOST_TEST(ok.severity == Severity::ok, mode);
    BOOST_TEST(ok.fix.empty(), mode);
  }
  tree.set_shmem_thp("force");
  BOOST_TEST(require(audit_tree(tree), "thp.shmem_enabled").severity == Severity::info);
}

BOOST_AUTO_TEST_CASE(dev_shm_without_huge_option_is_a_warning_on_gpu_hosts_only) {
  SysfsTreeDouble tree;
  BOOST_TEST(require(audit_tree(tree), "thp.dev_shm").severity == Severity::ok);
  tree.set_dev_shm("rw,nosuid,nodev");  // systemd's default: no huge=, so never
  Finding plain = require(audit_tree(tree), "thp.dev_shm");
  BOOST_TEST(plain.severity == Severity::info);
  BOOST_TEST(plain.fix == "mount -o remount,huge=advise /dev/shm");

  tree.add_gpu("0000:17:00.0", 0, 20, "identity");
  Finding gpu = require(audit_tree(tree), "thp.dev_shm");
  BOOST_TEST(gpu.severity == Severity::warn);
  BOOST_TEST(gpu.fix == "mount -o remount,huge=advise /dev/shm");
  // shmem_enabled advise (the baseline) does not make it ok.
  BOOST_TEST(require(audit_tree(tree), "thp.shmem_enabled").severity == Severity::ok);

  tree.set_shmem_thp("force");  // reaches every tmpfs mount
  BOOST_TEST(require(audit_tree(tree), "thp.dev_shm").severity == Severity::ok);
  tree.set_shmem_thp("deny");  // keeps huge pages off it, whatever the mount says
  tree.set_dev_shm("rw,huge=within_size");
  Finding denied = require(audit_tree(tree), "thp.dev_shm");
  BOOST_TEST(denied.severity == Severity::warn);
  BOOST_TEST(denied.fix == "hugeshim doctor --apply --shmem advise");

  tree.set_shmem_thp("advise");
  BOOST_TEST(require(audit_tree(tree), "thp.dev_shm").severity == Severity::ok);

  tree.set_dev_shm("rw,relatime", "ramfs");
  Finding none = require(audit_tree(tree), "thp.dev_shm");
  BOOST_TEST(none.severity == Severity::info);
  BOOST_TEST(none.fix.empty());
}

BOOST_AUTO_TEST_CASE(exhausted_pool) {
  SysfsTreeDouble tree;
  tree.set_pool(2048, 512, 0);
  tree.set_node_pool(0, 2048, 512, 0);
  Findings f = audit_tree(tree);
  Finding e = require(f, "hugetlb.pool_exhausted", "2M");
  BOOST_TEST(e.severity == Severity::warn);
  BOOST_TEST(e.fix == "hugeshim doctor --apply --pool 2M:1024");  // doubles it
  BOOST_TEST(!find(f, "hugetlb.pool", "2M"));

  AuditOptions o;
  o.expect_pinned = 256ull << 20;  // 128 pages on top of the 512 in use
  BOOST_TEST(require(audit_tree(tree, o), "hugetlb.pool_exhausted", "2M").fix ==
             "hugeshim doctor --apply --pool 2M:640");
}

BOOST_AUTO_TEST_CASE(free_pages_all_reserved_count_as_exhausted) {
  SysfsTreeDouble tree;
  tree.set_pool(2048, 512, 100, 100);
  BOOST_TEST(require(audit_tree(tree), "hugetlb.pool_exhausted", "2M").severity == Severity::warn);
  tree.set_pool(2048, 512, 0, 0, 0, 64);  // overcommit still allows surplus pages
  BOOST_TEST(!find(audit_tree(tree), "hugetlb.pool_exhausted", "2M"));
}

BOOST_AUTO_TEST_CASE(pool_sized_to_expected_pinned_memory) {
  SysfsTreeDouble tree;  // 512 free pages = 1 GiB
  AuditOptions o;
  o.expect_pinned = kGiB;
  BOOST_TEST(require(audit_tree(tree, o), "hugetlb.pool", "2M").severity == Severity::ok);
  o.expect_pinned = 2 * kGiB + 1;  // 1025 pages
  Finding small = require(audit_tree(tree, o), "hugetlb.pool_too_small", "2M");
  BOOST_TEST(small.severity == Severity::warn);
  BOOST_TEST(small.fix == "hugeshim doctor --apply --pool 2M:1025");
}

BOOST_AUTO_TEST_CASE(missing_pool_without_and_with_a_workload_size) {
  SysfsTreeDouble tree;
  tree.set_pool(2048, 0, 0);
  tree.set_node_pool(0, 2048, 0, 0);
  Finding info = require(audit_tree(tree), "hugetlb.pool_missing", "2M");
  BOOST_TEST(info.severity == Severity::info);
  BOOST_TEST(info.fix == "hugeshim doctor --expect-pinned <SIZE>");
  AuditOptions o;
  o.expect_pinned = 64 * kGiB;
  Finding warn = require(audit_tree(tree, o), "hugetlb.pool_missing", "2M");
  BOOST_TEST(warn.severity == Severity::warn);
  BOOST_TEST(warn.fix == "hugeshim doctor --apply --pool 2M:32768");
  // 64 GiB is more than the 21 GiB MemAvailable of the fake host.
  BOOST_TEST(warn.explanation.find("may give fewer pages") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(pools_fall_back_to_meminfo_without_sysfs) {
  SysfsTreeDouble tree;
  tree.remove("/sys/kernel/mm/hugepages");
  HostSnapshot host = read_host(HostFiles(tree.root()), {});
  BOOST_TEST_REQUIRE(host.pools.size() == 1u);
  BOOST_TEST(host.pools[0].size_kb == 2048u);
  BOOST_TEST(host.pools[0].total == 512);
}

BOOST_AUTO_TEST_CASE(cgroup_hugetlb_limit_without_reservation_accounting) {
  SysfsTreeDouble tree;
  const std::string dir = "/sys/fs/cgroup/system.slice/inference.service";
  tree.write(dir + "/hugetlb.2MB.max", "1073741824");
  Findings f = audit_tree(tree);
  Finding c = require(f, "cgroup.hugetlb_unreserved", "2M");
  BOOST_TEST(c.severity == Severity::error);
  BOOST_TEST(c.explanation.find("SIGBUS") != std::string::npos);
  BOOST_TEST(c.fix == "echo 1073741824 > " + dir + "/hugetlb.2MB.rsvd.max");
  BOOST_TEST(exit_status_for(worst_severity(f)) == 2);
}

BOOST_AUTO_TEST_CASE(cgroup_limit_set_on_a_parent_is_found) {
  SysfsTreeDouble tree;
  tree.write("/sys/fs/cgroup/system.slice/hugetlb.2MB.max", "536870912");
  tree.write("/sys/fs/cgroup/system.slice/hugetlb.2MB.rsvd.max", "max");
  Finding c = require(audit_tree(tree), "cgroup.hugetlb_unreserved", "2M");
  BOOST_TEST(c.fix == "echo 536870912 > /sys/fs/cgroup/system.slice/hugetlb.2MB.rsvd.max");
}

BOOST_AUTO_TEST_CASE(cgroup_limit_on_a_kernel_without_reservation_files) {
  SysfsTreeDouble tree;
  const std::string dir = "/sys/fs/cgroup/system.slice/inference.service";
  tree.write(dir + "/hugetlb.2MB.max", "1073741824");
  tree.remove(dir + "/hugetlb.2MB.rsvd.max");
  Finding c = require(audit_tree(tree), "cgroup.hugetlb_unreserved", "2M");
  BOOST_TEST(c.severity == Severity::error);
  BOOST_TEST(c.fix == "export HUGESHIM_POPULATE=eager");
}

BOOST_AUTO_TEST_CASE(cgroup_limit_with_reservation_accounting) {
  SysfsTreeDouble tree;
  const std::string dir = "/sys/fs/cgroup/system.slice/inference.service";
  tree.write(dir + "/hugetlb.2MB.max", "1073741824");
  tree.write(dir + "/hugetlb.2MB.rsvd.max", "1073741824");
  Findings f = audit_tree(tree);
  BOOST_TEST(require(f, "cgroup.hugetlb_limit", "2M").severity == Severity::info);
  BOOST_TEST(!find(f, "cgroup.hugetlb_unreserved", "2M"));
  AuditOptions o;
  o.expect_pinned = 2 * kGiB;
  Finding low = require(audit_tree(tree, o), "cgroup.hugetlb_limit", "2M");
  BOOST_TEST(low.severity == Severity::warn);
  BOOST_TEST(low.fix == "echo 2147483648 > " + dir + "/hugetlb.2MB.max && echo 2147483648 > " +
                            dir + "/hugetlb.2MB.rsvd.max");
}

BOOST_AUTO_TEST_CASE(cgroup_v1_hugetlb_hierarchy_and_explicit_cgroup) {
  SysfsTreeDouble tree;
  tree.remove("/sys/fs/cgroup");
  tree.write("/proc/self/cgroup", "5:hugetlb:/batch\n4:memory:/batch\n0::/");
  tree.write("/sys/fs/cgroup/hugetlb/batch/hugetlb.2MB.limit_in_bytes", "2097152");
  tree.write("/sys/fs/cgroup/hugetlb/batch/hugetlb.2MB.rsvd.limit_in_bytes",
             "9223372036854771712");  // v1's "unlimited"
  tree.write("/sys/fs/cgroup/hugetlb/serving/hugetlb.2MB.limit_in_bytes", "9223372036854771712");
  tree.write("/sys/fs/cgroup/hugetlb/serving/hugetlb.2MB.rsvd.limit_in_bytes",
             "9223372036854771712");
  Finding c = require(audit_tree(tree), "cgroup.hugetlb_unreserved", "2M");
  BOOST_TEST(c.fix == "echo 2097152 > /sys/fs/cgroup/hugetlb/batch/hugetlb.2MB.rsvd.limit_in_bytes");
  ReadOptions other;
  other.cgroup = "/serving";
  BOOST_TEST(require(audit_tree(tree, {}, other), "cgroup.hugetlb").severity == Severity::ok);
}

// Issue 10 item 9: a cgroup v2 host (the H200 VM of docs/gpu/2026-11-27-h200-run2/doctor.txt)
// wrote the page counter's maximum as a number instead of "max"; the doctor called that a
// limit of 8192.0 PiB. Any value at or above 2^62 bytes is "no limit", in v1 and v2 alike.
BOOST_AUTO_TEST_CASE(cgroup_counter_maximum_is_no_limit_in_v1_and_v2) {
  SysfsTreeDouble tree;
  const std::string dir = "/sys/fs/cgroup/system.slice/inference.service";
  tree.write(dir + "/hugetlb.2MB.max", "9223372036854771712");
  tree.write(dir + "/hugetlb.2MB.rsvd.max", "9223372036854771712");
  tree.write(dir + "/hugetlb.1GB.max", "9223372035781033984");  // rounded to 1 GiB pages
  tree.write(dir + "/hugetlb.1GB.rsvd.max", "max");
  HostSnapshot host = read_host(HostFiles(tree.root()), {});
  BOOST_TEST_REQUIRE(host.cgroup.version == 2);
  BOOST_TEST_REQUIRE(host.cgroup.limits.size() == 2u);
  for (const auto& l : host.cgroup.limits) {
    BOOST_TEST(!l.max.has_value(), l.size_kb);
    BOOST_TEST(!l.rsvd_max.has_value(), l.size_kb);
    BOOST_TEST(l.rsvd_supported, l.size_kb);
  }
  Findings f = audit(host, {});
  BOOST_TEST(require(f, "cgroup.hugetlb").severity == Severity::ok);
  BOOST_TEST(!find(f, "cgroup.hugetlb_limit", "2M"));
  BOOST_TEST(!find(f, "cgroup.hugetlb_limit", "1G"));

  // A real limit next to an unlimited reservation names it "unlimited", not a byte count.
  tree.write(dir + "/hugetlb.2MB.max", "1073741824");
  Finding c = require(audit_tree(tree), "cgroup.hugetlb_unreserved", "2M");
  BOOST_TEST(c.explanation.find("PiB") == std::string::npos);
  BOOST_TEST(c.explanation.find("is unlimited") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(kernel_6_12_single_pin_limit) {
  SysfsTreeDouble tree;
  tree.set_kernel("6.12.0-31-generic");
  Finding k = require(audit_tree(tree), "kernel.single_pin_limit");
  BOOST_TEST(k.severity == Severity::warn);
  BOOST_TEST(k.explanation.find("2 GB") != std::string::npos);
  BOOST_TEST(k.fix.rfind("install a kernel >= 6.14", 0) == 0);
  for (const char* outside : {"6.10.14", "6.14.0-rc1", "5.15.0-105-generic", "7.0.1"}) {
    tree.set_kernel(outside);
    BOOST_TEST(!find(audit_tree(tree), "kernel.single_pin_limit"), outside);
  }
  for (const char* inside : {"6.11.0", "6.13.12-200.fc41.x86_64"}) {
    tree.set_kernel(inside);
    BOOST_TEST(find(audit_tree(tree), "kernel.single_pin_limit"), inside);
  }
}

BOOST_AUTO_TEST_CASE(memlock_limit_against_expected_pinned_memory) {
  SysfsTreeDouble tree;
  tree.set_memlock("65536", "65536");
  Finding info = require(audit_tree(tree), "memlock.limit");
  BOOST_TEST(info.severity == Severity::info);
  AuditOptions o;
  o.expect_pinned = kGiB;
  Finding warn = require(audit_tree(tree, o), "memlock.limit");
  BOOST_TEST(warn.severity == Severity::warn);
  BOOST_TEST(warn.fix == "ulimit -l unlimited");
  BOOST_TEST(warn.explanation.find("64 KiB") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(iommu_command_line_options_stop_at_init_arguments) {
  SysfsTreeDouble tree;
  tree.write("/proc/cmdline",
             "ro amd_iommu=on iommu=pt iommu.strict=0 iommu.passthrough=1 quiet -- iommu=off");
  HostSnapshot host = read_host(HostFiles(tree.root()), {});
  std::vector<std::pair<std::string, std::string>> expected = {
      {"amd_iommu", "on"}, {"iommu", "pt"}, {"iommu.strict", "0"}, {"iommu.passthrough", "1"}};
  BOOST_TEST(host.iommu_cmdline == expected);
}
