// hugeshim-doctor as a program over fake trees: exit statuses, the --json
// schema (docs/DOCTOR.md), and --apply / --dry-run / idempotence.
#define BOOST_TEST_MODULE doctor_cli
#include <boost/test/unit_test.hpp>

#include "doctor_process.h"
#include "sysfs_tree_double.h"

using hugeshim::test::run_doctor;
using hugeshim::test::SysfsTreeDouble;
using nlohmann::json;

namespace {

std::string root_arg(const SysfsTreeDouble& tree) { return "--root " + tree.root(); }

const json* finding(const json& report, const std::string& id, const std::string& subject = "") {
  for (const auto& f : report["findings"])
    if (f["id"] == id && f["subject"] == subject) return &f;
  return nullptr;
}

}  // namespace

BOOST_AUTO_TEST_CASE(json_schema_version_1_fields) {
  SysfsTreeDouble tree;
  tree.add_gpu("0000:17:00.0", 0, 20, "identity", "0-7");
  auto run = run_doctor(root_arg(tree) + " --json --expect-pinned 512M");
  BOOST_TEST_REQUIRE(run.exit_status == 0);
  json j = run.json();
  BOOST_TEST(j["schema"] == 1);
  BOOST_TEST(j["kind"] == "audit");
  BOOST_TEST(j["root"] == tree.root());
  BOOST_TEST(j["expect_pinned_bytes"] == 512ull << 20);
  BOOST_TEST(j["worst"] == "info");
  BOOST_TEST(j["exit_status"] == 0);
  const json& h = j["host"];
  for (const char* key : {"kernel", "thp", "hugetlb_pools", "meminfo", "numa_nodes", "memlock",
                          "cgroup", "gpus", "iommu_cmdline"})
    BOOST_TEST(h.contains(key), key);
  BOOST_TEST(h["kernel"]["release"] == "6.8.0-45-generic");
  BOOST_TEST(h["kernel"]["major"] == 6);
  BOOST_TEST(h["thp"]["enabled"] == "madvise");
  BOOST_TEST(h["thp"]["khugepaged"]["max_ptes_none"] == 511);
  BOOST_TEST(h["hugetlb_pools"][0]["page_size"] == "2M");
  BOOST_TEST(h["hugetlb_pools"][0]["nodes"][0]["free"] == 512);
  BOOST_TEST(h["memlock"]["soft_bytes"].is_null());  // unlimited
  BOOST_TEST(h["cgroup"]["version"] == 2);
  BOOST_TEST(h["cgroup"]["path"] == "/system.slice/inference.service");
  BOOST_TEST(h["gpus"][0]["bus_id"] == "0000:17:00.0");
  BOOST_TEST(h["gpus"][0]["iommu_type"] == "identity");
  BOOST_TEST(h["gpus"][0]["iommu_group"] == 20);
  BOOST_TEST(h["gpus"][0]["local_cpus"] == "0-7");
  for (const auto& f : j["findings"]) {
    BOOST_TEST(f.size() == 5u);
    BOOST_TEST(f["id"].is_string());
    BOOST_TEST(f["subject"].is_string());
    BOOST_TEST((f["severity"] == "ok" || f["severity"] == "info" || f["severity"] == "warn" ||
                f["severity"] == "error"));
    BOOST_TEST(f["explanation"].is_string());
    BOOST_TEST((f["fix"].is_null() || f["fix"].is_string()));
  }
}

BOOST_AUTO_TEST_CASE(exit_status_is_the_worst_finding) {
  SysfsTreeDouble tree;
  BOOST_TEST(run_doctor(root_arg(tree)).exit_status == 0);
  tree.set_thp("always", "always");
  auto warn = run_doctor(root_arg(tree) + " --json");
  BOOST_TEST(warn.exit_status == 1);
  BOOST_TEST(warn.json()["worst"] == "warn");
  tree.write("/sys/fs/cgroup/system.slice/inference.service/hugetlb.2MB.max", "1073741824");
  auto error = run_doctor(root_arg(tree) + " --json");
  BOOST_TEST(error.exit_status == 2);
  json report = error.json();
  const json* f = finding(report, "cgroup.hugetlb_unreserved", "2M");
  BOOST_TEST_REQUIRE(f);
  BOOST_TEST((*f)["severity"] == "error");
}

BOOST_AUTO_TEST_CASE(text_report_names_findings_and_fixes) {
  SysfsTreeDouble tree;
  tree.set_kernel("6.12.9");
  auto run = run_doctor(root_arg(tree));
  BOOST_TEST(run.exit_status == 1);
  BOOST_TEST(run.out.find("[warn]  kernel.single_pin_limit") != std::string::npos);
  BOOST_TEST(run.out.find("fix: install a kernel >= 6.14") != std::string::npos);
  BOOST_TEST(run.out.find("Worst: warn (exit 1)") != std::string::npos);
}

// Issue 10 item 9: "no limit" reads "unlimited" in the text report and null in --json, whether
// the kernel wrote "max" or the page counter's maximum as a number (docs/DOCTOR.md).
BOOST_AUTO_TEST_CASE(unlimited_cgroup_hugetlb_is_unlimited_in_text_and_null_in_json) {
  SysfsTreeDouble tree;
  const std::string dir = "/sys/fs/cgroup/system.slice/inference.service";
  tree.write(dir + "/hugetlb.2MB.max", "9223372036854771712");
  tree.write(dir + "/hugetlb.2MB.rsvd.max", "max");
  auto text = run_doctor(root_arg(tree));
  BOOST_TEST(text.exit_status == 0);
  BOOST_TEST(text.out.find("PiB") == std::string::npos, text.out);
  BOOST_TEST(text.out.find("| 2M max unlimited rsvd unlimited") != std::string::npos, text.out);

  auto run = run_doctor(root_arg(tree) + " --json");
  BOOST_TEST_REQUIRE(run.exit_status == 0);
  json j = run.json();
  const json& limits = j["host"]["cgroup"]["hugetlb"];
  BOOST_TEST_REQUIRE(limits.size() >= 1u);
  BOOST_TEST(limits[0]["page_size"] == "2M");
  BOOST_TEST(limits[0]["max_bytes"].is_null());
  BOOST_TEST(limits[0]["rsvd_max_bytes"].is_null());
  BOOST_TEST(limits[0]["rsvd_supported"] == true);
  BOOST_TEST(limits[0]["max_file"] == "");

  // A set limit still prints as bytes, and its unlimited reservation as "unlimited".
  tree.write(dir + "/hugetlb.2MB.max", "1073741824");
  auto limited = run_doctor(root_arg(tree));
  BOOST_TEST(limited.out.find("| 2M max 1 GiB rsvd unlimited") != std::string::npos, limited.out);
}

BOOST_AUTO_TEST_CASE(usage_errors_exit_64) {
  SysfsTreeDouble tree;
  BOOST_TEST(run_doctor("--no-such-flag 2>/dev/null").exit_status == 64);
  BOOST_TEST(run_doctor("--root /nonexistent/dir 2>/dev/null").exit_status == 64);
  BOOST_TEST(run_doctor(root_arg(tree) + " --pool 2M:4 2>/dev/null").exit_status == 64);
  BOOST_TEST(run_doctor(root_arg(tree) + " --apply --pool 2M 2>/dev/null").exit_status == 64);
  BOOST_TEST(run_doctor(root_arg(tree) + " --apply --thp sometimes 2>/dev/null").exit_status == 64);
  BOOST_TEST(run_doctor(root_arg(tree) + " --expect-pinned lots 2>/dev/null").exit_status == 64);
  BOOST_TEST(run_doctor("--help").exit_status == 0);
}

BOOST_AUTO_TEST_CASE(dry_run_changes_nothing) {
  SysfsTreeDouble tree;
  tree.set_thp("always", "always");
  auto run = run_doctor(root_arg(tree) + " --apply --dry-run --json --pool 2M:64@0 --thp madvise");
  BOOST_TEST_REQUIRE(run.exit_status == 0);
  json j = run.json();
  BOOST_TEST(j["kind"] == "apply");
  BOOST_TEST(j["dry_run"] == true);
  BOOST_TEST_REQUIRE(j["actions"].size() == 2u);
  BOOST_TEST(j["actions"][0]["setting"] == "thp.enabled");
  BOOST_TEST(j["actions"][0]["status"] == "planned");
  BOOST_TEST(j["actions"][1]["subject"] == "2M@0");
  BOOST_TEST(j["actions"][1]["before"] == "512");
  BOOST_TEST(j["actions"][1]["status"] == "planned");
  BOOST_TEST(tree.read("/sys/kernel/mm/transparent_hugepage/enabled") == "[always] madvise never");
  BOOST_TEST(tree.read("/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages") ==
             "512");
}

BOOST_AUTO_TEST_CASE(apply_writes_explicit_settings_and_is_idempotent) {
  SysfsTreeDouble tree;
  tree.set_thp("always", "always");
  const std::string args = root_arg(tree) +
                           " --apply --json --thp madvise --defrag never --pool 2M:64@0 --pool 2M:64";
  auto first = run_doctor(args);
  BOOST_TEST_REQUIRE(first.exit_status == 0);
  {
    const auto report = first.json();  // the loop must not outlive its document
    for (const auto& a : report["actions"]) BOOST_TEST(a["status"] == "changed", a.dump());
  }
  BOOST_TEST(tree.read("/sys/kernel/mm/transparent_hugepage/enabled") == "madvise");
  BOOST_TEST(tree.read("/sys/kernel/mm/transparent_hugepage/defrag") == "never");
  BOOST_TEST(tree.read("/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages") ==
             "64");
  BOOST_TEST(tree.read("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages") == "64");

  auto second = run_doctor(args);
  BOOST_TEST(second.exit_status == 0);
  {
    const auto report = second.json();  // the loop must not outlive its document
    for (const auto& a : report["actions"]) BOOST_TEST(a["status"] == "unchanged", a.dump());
  }
}

BOOST_AUTO_TEST_CASE(apply_without_settings_applies_the_recommendation) {
  SysfsTreeDouble tree;
  tree.set_thp("always", "madvise");
  auto run = run_doctor(root_arg(tree) + " --apply --expect-pinned 2G");
  BOOST_TEST_REQUIRE(run.exit_status == 0);
  BOOST_TEST(run.out.find("hugetlb.pool 2M") != std::string::npos);
  BOOST_TEST(tree.read("/sys/kernel/mm/transparent_hugepage/enabled") == "madvise");
  BOOST_TEST(tree.read("/sys/kernel/mm/transparent_hugepage/defrag") == "never");
  // 1024 pages needed, 512 free: the global pool grows to 1024.
  BOOST_TEST(tree.read("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages") == "1024");
}

BOOST_AUTO_TEST_CASE(apply_to_a_missing_pool_fails_with_status_4) {
  SysfsTreeDouble tree;
  auto run = run_doctor(root_arg(tree) + " --apply --json --pool 2M:8@3");
  BOOST_TEST(run.exit_status == 4);
  BOOST_TEST(run.json()["actions"][0]["status"] == "failed");
}

// Issue 11 item 7: --apply validates every change before the first write and rolls back what it
// wrote when a later write fails anyway (docs/DOCTOR.md, "--apply").
namespace {

const std::string kEnabled = "/sys/kernel/mm/transparent_hugepage/enabled";
const std::string kDefrag = "/sys/kernel/mm/transparent_hugepage/defrag";
const std::string kPool2M = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
const std::string kPool1G = "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages";

std::string node_pool(int node, const std::string& size_dir = "hugepages-2048kB") {
  return "/sys/devices/system/node/node" + std::to_string(node) + "/hugepages/" + size_dir +
         "/nr_hugepages";
}

std::string field(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "<missing>";
}

// Node 1 (8 GiB, 6 GiB free) beside node 0, both with 2M and 1G pools; the
// 2M pool all on node 0.
struct TwoNodeTree {
  TwoNodeTree() {
    tree.add_numa_node(1);
    tree.set_node_pool(1, 2048, 0, 0);
    tree.set_node_pool(1, 1048576, 0, 0);
    tree.set_node_meminfo(0, 16L << 20, 12L << 20, 1L << 20);
    tree.set_node_meminfo(1, 8L << 20, 6L << 20);
  }
  SysfsTreeDouble tree;
};

}  // namespace

// The report of issue 11: the pool grew, then the step for node 7 failed and the growth stayed.
BOOST_AUTO_TEST_CASE(missing_node_is_refused_before_the_pool_grows) {
  SysfsTreeDouble tree;
  auto run = run_doctor(root_arg(tree) + " --apply --pool 2M:1300 --pool 2M:8@7");
  BOOST_TEST(run.exit_status == 4);
  BOOST_TEST(tree.read(kPool2M) == "512");
  BOOST_TEST(run.out.find("nothing was changed") != std::string::npos, run.out);
  BOOST_TEST(run.out.find("--pool 2M:8@7: NUMA node 7 does not exist (nodes: 0)") !=
                 std::string::npos,
             run.out);
}

BOOST_AUTO_TEST_CASE(later_write_failure_rolls_back_in_reverse_order) {
  SysfsTreeDouble tree;
  tree.set_thp("always", "always");
  tree.make_unwritable(kPool1G);  // reads 65536, so 1G:1 shrinks it and passes validation
  const std::string args = root_arg(tree) + " --apply --thp madvise --pool 2M:64 --pool 1G:1";

  auto run = run_doctor(args + " --json");
  BOOST_TEST(run.exit_status == 4);
  BOOST_TEST(tree.read(kPool2M) == "512");
  BOOST_TEST(tree.read(kEnabled) == "always");  // restored as `echo always >` writes it
  json j = run.json();
  BOOST_TEST(field(j, "outcome") == "rolled_back");
  BOOST_TEST_REQUIRE(j["actions"].size() == 3u);
  const json& thp = j["actions"][0];
  BOOST_TEST(field(thp, "status") == "changed");
  BOOST_TEST(field(thp, "written") == "madvise");
  BOOST_TEST(field(thp, "rollback") == "restored");
  BOOST_TEST(field(thp, "after") == "always");
  const json& pool = j["actions"][1];
  BOOST_TEST(field(pool, "written") == "64");
  BOOST_TEST(field(pool, "rollback") == "restored");
  BOOST_TEST(field(pool, "after") == "512");
  const json& failed = j["actions"][2];
  BOOST_TEST(field(failed, "status") == "failed");
  BOOST_TEST(field(failed, "note") == "Permission denied");
  BOOST_TEST(field(failed, "rollback") == "none");

  // The text report names what was put back, last change first. (A fake file holds only the
  // word last written, where sysfs lists every mode: list them again.)
  tree.set_thp("always", "always");
  auto text = run_doctor(args);
  BOOST_TEST(text.exit_status == 4);
  auto pool_line = text.out.find("hugetlb.pool 2M       restored 512 (was 64)");
  auto thp_line = text.out.find("thp.enabled           restored always (was madvise)");
  BOOST_TEST(pool_line != std::string::npos, text.out);
  BOOST_TEST(thp_line != std::string::npos, text.out);
  BOOST_TEST(pool_line < thp_line);
  BOOST_TEST(text.out.find("the host is as it was before") != std::string::npos, text.out);
}

BOOST_AUTO_TEST_CASE(absurd_pool_size_is_refused_before_any_write) {
  SysfsTreeDouble tree;
  tree.set_thp("always", "always");
  auto run = run_doctor(root_arg(tree) + " --apply --thp madvise --pool 2M:100000000");
  BOOST_TEST(run.exit_status == 4);
  BOOST_TEST(tree.read(kPool2M) == "512");
  BOOST_TEST(tree.read(kEnabled) == "[always] madvise never");
  BOOST_TEST(run.out.find("nothing was changed") != std::string::npos, run.out);
  // 21 GiB available less the 2.3 GiB reserve (10% of 23.4 GiB) = 9542 more pages.
  BOOST_TEST(run.out.find("at most --pool 2M:10054") != std::string::npos, run.out);

  auto dry = run_doctor(root_arg(tree) +
                        " --apply --dry-run --json --thp madvise --pool 2M:100000000");
  BOOST_TEST(dry.exit_status == 4);
  json j = dry.json();
  BOOST_TEST(field(j, "outcome") == "refused");
  BOOST_TEST_REQUIRE(j.contains("problems"));
  BOOST_TEST_REQUIRE(j["problems"].size() == 1u);
  BOOST_TEST(j["problems"][0].get<std::string>().find("--pool 2M:100000000: ") == 0u);
  BOOST_TEST(j["actions"][0]["status"] == "skipped");
  BOOST_TEST(j["actions"][1]["status"] == "failed");
  BOOST_TEST(j["actions"][1]["note"] == j["problems"][0]);
}

BOOST_AUTO_TEST_CASE(pool_bound_is_exact_at_the_reserve) {
  SysfsTreeDouble tree;
  BOOST_TEST(run_doctor(root_arg(tree) + " --apply --dry-run --pool 2M:10054").exit_status == 0);
  BOOST_TEST(run_doctor(root_arg(tree) + " --apply --dry-run --pool 2M:10055").exit_status == 4);
  // Growth is what counts: an existing pool above the bound may still shrink.
  tree.set_pool(2048, 20000, 20000);
  tree.set_node_pool(0, 2048, 20000, 20000);
  BOOST_TEST(run_doctor(root_arg(tree) + " --apply --pool 2M:15000").exit_status == 0);
  BOOST_TEST(tree.read(kPool2M) == "15000");
}

BOOST_FIXTURE_TEST_CASE(node_pool_must_fit_its_node_with_earlier_changes, TwoNodeTree) {
  // Node 1: 6 GiB free less the 1 GiB floor of the reserve = 5 GiB = 2560 2M pages.
  BOOST_TEST(run_doctor(root_arg(tree) + " --apply --dry-run --pool 2M:2560@1").exit_status == 0);
  auto over = run_doctor(root_arg(tree) + " --apply --pool 2M:2561@1");
  BOOST_TEST(over.exit_status == 4);
  BOOST_TEST(over.out.find("node 1") != std::string::npos, over.out);
  BOOST_TEST(over.out.find("at most --pool 2M:2560@1") != std::string::npos, over.out);

  // 4 GiB of 2M pages, then 2 GiB of 1G pages: together past the 5 GiB; only the second is
  // a problem, and nothing is written.
  auto both = run_doctor(root_arg(tree) + " --apply --json --pool 2M:2048@1 --pool 1G:2@1");
  BOOST_TEST(both.exit_status == 4);
  json j = both.json();
  BOOST_TEST_REQUIRE(j.contains("problems"));
  BOOST_TEST(j["problems"].size() == 1u);
  BOOST_TEST(j["actions"][0]["status"] == "skipped");
  BOOST_TEST(j["actions"][1]["status"] == "failed");
  BOOST_TEST(field(j["actions"][1], "note").find("at most --pool 1G:1@1") != std::string::npos,
             j.dump(2));
  BOOST_TEST(tree.read(node_pool(1)) == "0");
}

BOOST_AUTO_TEST_CASE(every_problem_gets_its_own_message) {
  SysfsTreeDouble tree;
  tree.write(kDefrag, "always defer [madvise] never");  // a kernel without defer+madvise
  auto run = run_doctor(root_arg(tree) +
                        " --apply --json --defrag defer+madvise --pool 4M:1 --pool 2M:8@7"
                        " --pool 1G:100");
  BOOST_TEST(run.exit_status == 4);
  json j = run.json();
  BOOST_TEST_REQUIRE(j.contains("problems"));
  BOOST_TEST_REQUIRE(j["problems"].size() == 4u, j.dump(2));
  BOOST_TEST(j["problems"][0].get<std::string>().find("--defrag defer+madvise: ") == 0u);
  BOOST_TEST(j["problems"][1] == "--pool 4M:1: the kernel has no 4M huge pages (sizes: 2M, 1G)");
  BOOST_TEST(j["problems"][2] == "--pool 2M:8@7: NUMA node 7 does not exist (nodes: 0)");
  BOOST_TEST(j["problems"][3].get<std::string>().find("--pool 1G:100: ") == 0u);
  for (const auto& a : j["actions"]) BOOST_TEST(a["status"] == "failed", a.dump());
  BOOST_TEST(tree.read(kDefrag) == "always defer [madvise] never");
}

BOOST_FIXTURE_TEST_CASE(valid_multi_change_apply_applies_everything, TwoNodeTree) {
  tree.set_thp("always", "always");
  auto run = run_doctor(root_arg(tree) +
                        " --apply --json --thp madvise --defrag never --pool 2M:0@0"
                        " --pool 2M:1024@1 --pool 1G:2@1");
  BOOST_TEST_REQUIRE(run.exit_status == 0, run.out);
  json j = run.json();
  BOOST_TEST(field(j, "outcome") == "applied");
  BOOST_TEST((j.contains("problems") && j["problems"].empty()));
  BOOST_TEST_REQUIRE(j["actions"].size() == 5u);
  for (const auto& a : j["actions"]) {
    BOOST_TEST(a["status"] == "changed", a.dump());
    BOOST_TEST(field(a, "rollback") == "none", a.dump());
    BOOST_TEST(a["after"] == a["requested"], a.dump());
  }
  BOOST_TEST(tree.read(kEnabled) == "madvise");
  BOOST_TEST(tree.read(kDefrag) == "never");
  BOOST_TEST(tree.read(node_pool(0)) == "0");
  BOOST_TEST(tree.read(node_pool(1)) == "1024");
  BOOST_TEST(tree.read(node_pool(1, "hugepages-1048576kB")) == "2");
}

BOOST_FIXTURE_TEST_CASE(node_without_the_pool_or_its_meminfo_cannot_grow, TwoNodeTree) {
  tree.remove("/sys/devices/system/node/node1/hugepages/hugepages-1048576kB");
  auto no_pool = run_doctor(root_arg(tree) + " --apply --pool 1G:1@1");
  BOOST_TEST(no_pool.exit_status == 4);
  BOOST_TEST(no_pool.out.find("--pool 1G:1@1: node 1 has no 1G pool (no "
                              "/sys/devices/system/node/node1/hugepages/hugepages-1048576kB)") !=
                 std::string::npos,
             no_pool.out);

  // Without its meminfo a node's pool cannot be checked, so it may not grow; shrinking needs no
  // check.
  tree.remove("/sys/devices/system/node/node1/meminfo");
  auto grow = run_doctor(root_arg(tree) + " --apply --pool 2M:8@1");
  BOOST_TEST(grow.exit_status == 4);
  BOOST_TEST(grow.out.find("--pool 2M:8@1: cannot read MemTotal and MemFree in "
                           "/sys/devices/system/node/node1/meminfo") != std::string::npos,
             grow.out);
  BOOST_TEST(tree.read(node_pool(1)) == "0");
  tree.set_node_pool(1, 2048, 16, 16);
  BOOST_TEST(run_doctor(root_arg(tree) + " --apply --pool 2M:8@1").exit_status == 0);
  BOOST_TEST(tree.read(node_pool(1)) == "8");
}

// Issue 12 item 1: --apply --shmem sets shmem_enabled through the same checks and rollback as
// --thp and --defrag; the audit's JSON names /dev/shm's huge= option.
namespace {
const std::string kShmem = "/sys/kernel/mm/transparent_hugepage/shmem_enabled";
}  // namespace

BOOST_AUTO_TEST_CASE(apply_shmem_writes_it_and_is_idempotent) {
  SysfsTreeDouble tree;
  tree.set_shmem_thp("never");
  const std::string args = root_arg(tree) + " --apply --json --shmem advise";
  auto first = run_doctor(args);
  BOOST_TEST_REQUIRE(first.exit_status == 0, first.out);
  json j = first.json();
  BOOST_TEST_REQUIRE(j["actions"].size() == 1u);
  BOOST_TEST(j["actions"][0]["setting"] == "thp.shmem_enabled");
  BOOST_TEST(j["actions"][0]["path"] == kShmem);
  BOOST_TEST(j["actions"][0]["before"] == "never");
  BOOST_TEST(j["actions"][0]["status"] == "changed");
  BOOST_TEST(tree.read(kShmem) == "advise");

  tree.set_shmem_thp("advise");  // sysfs lists every mode again
  auto second = run_doctor(args);
  BOOST_TEST(second.exit_status == 0);
  BOOST_TEST(second.json()["actions"][0]["status"] == "unchanged");
  BOOST_TEST(run_doctor(root_arg(tree) + " --shmem advise 2>/dev/null").exit_status == 64);
  BOOST_TEST(run_doctor(root_arg(tree) + " --apply --shmem sometimes 2>/dev/null").exit_status ==
             64);
}

BOOST_AUTO_TEST_CASE(apply_shmem_mode_the_kernel_lacks_is_refused) {
  SysfsTreeDouble tree;
  tree.write(kShmem, "always advise [never] deny force");  // a kernel without within_size
  auto run = run_doctor(root_arg(tree) + " --apply --thp never --shmem within_size");
  BOOST_TEST(run.exit_status == 4);
  BOOST_TEST(run.out.find("--shmem within_size: this kernel offers only always, advise, never, "
                          "deny, force in " + kShmem) != std::string::npos,
             run.out);
  BOOST_TEST(tree.read(kShmem) == "always advise [never] deny force");
  BOOST_TEST(tree.read(kEnabled) == "always [madvise] never");
}

BOOST_AUTO_TEST_CASE(apply_shmem_is_rolled_back_when_a_later_write_fails) {
  SysfsTreeDouble tree;
  tree.set_shmem_thp("never");
  tree.make_unwritable(kPool1G);
  auto run = run_doctor(root_arg(tree) + " --apply --json --shmem advise --pool 1G:1");
  BOOST_TEST(run.exit_status == 4);
  json j = run.json();
  BOOST_TEST(field(j, "outcome") == "rolled_back");
  BOOST_TEST_REQUIRE(j["actions"].size() == 2u);
  BOOST_TEST(j["actions"][0]["setting"] == "thp.shmem_enabled");
  BOOST_TEST(field(j["actions"][0], "written") == "advise");
  BOOST_TEST(field(j["actions"][0], "rollback") == "restored");
  BOOST_TEST(tree.read(kShmem) == "never");
}

BOOST_AUTO_TEST_CASE(recommendation_sets_shmem_advise_on_gpu_hosts) {
  SysfsTreeDouble tree;
  tree.set_shmem_thp("never");
  auto plain = run_doctor(root_arg(tree) + " --apply --json");
  BOOST_TEST(plain.exit_status == 0);
  {
    const auto report = plain.json();  // the loop must not outlive its document
    for (const auto& a : report["actions"]) BOOST_TEST(a["setting"] != "thp.shmem_enabled");
  }
  BOOST_TEST(tree.read(kShmem) == "always within_size advise [never] deny force");

  tree.add_gpu("0000:17:00.0", 0, 20, "identity");
  auto gpu = run_doctor(root_arg(tree) + " --apply");
  BOOST_TEST(gpu.exit_status == 0);
  BOOST_TEST(gpu.out.find("thp.shmem_enabled     changed   never -> advise") != std::string::npos,
             gpu.out);
  BOOST_TEST(tree.read(kShmem) == "advise");
}

BOOST_AUTO_TEST_CASE(audit_reports_dev_shm_huge_option) {
  SysfsTreeDouble tree;
  tree.set_dev_shm("rw,nosuid,nodev,size=1024k");
  tree.add_gpu("0000:17:00.0", 0, 20, "identity");
  auto run = run_doctor(root_arg(tree) + " --json");
  BOOST_TEST(run.exit_status == 1);
  json j = run.json();
  BOOST_TEST(j["host"]["thp"]["dev_shm_huge"] == "never");
  const json* f = finding(j, "thp.dev_shm");
  BOOST_TEST_REQUIRE(f);
  BOOST_TEST((*f)["severity"] == "warn");
  auto text = run_doctor(root_arg(tree));
  BOOST_TEST(text.out.find("/dev/shm huge=never") != std::string::npos, text.out);
  BOOST_TEST(text.out.find("fix: mount -o remount,huge=advise /dev/shm") != std::string::npos,
             text.out);
}

// Issue 12 item 3: --warm plans per pool and node what it would fault; the faulting itself
// needs the real host (doctor_host_test).
namespace {

const json& warm_pool(const json& report, size_t i) { return report["warm"]["pools"][i]; }

}  // namespace

BOOST_AUTO_TEST_CASE(warm_dry_run_plans_the_free_pages_of_each_pool) {
  SysfsTreeDouble tree;
  auto run = run_doctor(root_arg(tree) + " --warm --dry-run --json");
  BOOST_TEST_REQUIRE(run.exit_status == 0, run.out);
  json j = run.json();
  BOOST_TEST(j["schema"] == 1);
  BOOST_TEST(j["kind"] == "warm");
  BOOST_TEST(j["dry_run"] == true);
  BOOST_TEST(j["warm"]["outcome"] == "planned");
  BOOST_TEST(j["warm"]["pages"] == 512);
  BOOST_TEST(j["warm"]["bytes"] == 512ull << 21);
  BOOST_TEST(j["warm"]["warmed"] == 0);
  BOOST_TEST_REQUIRE(j["warm"]["pools"].size() == 1u);  // the 1G pool has no free page
  BOOST_TEST(warm_pool(j, 0)["page_size"] == "2M");
  BOOST_TEST(warm_pool(j, 0)["node"] == 0);
  BOOST_TEST(warm_pool(j, 0)["free_before"] == 512);
  BOOST_TEST(warm_pool(j, 0)["pages"] == 512);
  BOOST_TEST(warm_pool(j, 0)["threads"] >= 1);
  BOOST_TEST(warm_pool(j, 0)["free_after"].is_null());

  auto text = run_doctor(root_arg(tree) + " --warm --dry-run");
  BOOST_TEST(text.exit_status == 0);
  BOOST_TEST(text.out.find("warm 2M@0             planned   512 pages (1 GiB)") !=
                 std::string::npos,
             text.out);
  BOOST_TEST(text.out.find("would warm 512 pages (1 GiB)") != std::string::npos, text.out);

  tree.set_pool(2048, 0, 0);
  tree.set_node_pool(0, 2048, 0, 0);
  auto none = run_doctor(root_arg(tree) + " --warm --dry-run");
  BOOST_TEST(none.exit_status == 0);
  BOOST_TEST(none.out.find("nothing to warm: no free huge pages") != std::string::npos, none.out);
}

BOOST_FIXTURE_TEST_CASE(warm_plan_splits_by_node_and_leaves_reserved_pages, TwoNodeTree) {
  // 768 free 2M pages, 100 of them reserved by a running program: 668 may be faulted, node 0
  // first. And 2 free 1G pages on node 1.
  tree.set_pool(2048, 768, 768, 100);
  tree.set_node_pool(1, 2048, 256, 256);
  tree.set_pool(1048576, 2, 2);
  tree.set_node_pool(1, 1048576, 2, 2);
  auto run = run_doctor(root_arg(tree) + " --warm --dry-run --json");
  BOOST_TEST_REQUIRE(run.exit_status == 0, run.out);
  json j = run.json();
  BOOST_TEST_REQUIRE(j["warm"]["pools"].size() == 3u, j.dump(2));
  BOOST_TEST(warm_pool(j, 0)["node"] == 0);
  BOOST_TEST(warm_pool(j, 0)["pages"] == 512);
  BOOST_TEST(warm_pool(j, 1)["node"] == 1);
  BOOST_TEST(warm_pool(j, 1)["free_before"] == 256);
  BOOST_TEST(warm_pool(j, 1)["pages"] == 156);
  BOOST_TEST(warm_pool(j, 2)["page_size"] == "1G");
  BOOST_TEST(warm_pool(j, 2)["node"] == 1);
  BOOST_TEST(warm_pool(j, 2)["pages"] == 2);
  BOOST_TEST(j["warm"]["pages"] == 670);
  BOOST_TEST(j["warm"]["bytes"] == (668ull << 21) + (2ull << 30));
  BOOST_TEST(j["warm"]["note"] == "100 2M pages reserved by running programs are left alone");
}

BOOST_FIXTURE_TEST_CASE(apply_dry_run_plans_the_warm_up_of_the_pools_it_would_leave,
                        TwoNodeTree) {
  auto node = run_doctor(root_arg(tree) + " --apply --pool 2M:64@1 --warm --dry-run --json");
  BOOST_TEST_REQUIRE(node.exit_status == 0, node.out);
  json j = node.json();
  BOOST_TEST(j["kind"] == "apply");
  BOOST_TEST(j["actions"][0]["status"] == "planned");
  BOOST_TEST(j["warm"]["outcome"] == "planned");
  BOOST_TEST_REQUIRE(j["warm"]["pools"].size() == 2u, j.dump(2));
  BOOST_TEST(warm_pool(j, 1)["node"] == 1);
  BOOST_TEST(warm_pool(j, 1)["pages"] == 64);
  BOOST_TEST(j["exit_status"] == 0);

  // A global change on a host with two nodes: the kernel decides the split.
  auto global = run_doctor(root_arg(tree) + " --apply --pool 2M:1024 --warm --dry-run --json");
  BOOST_TEST_REQUIRE(global.exit_status == 0, global.out);
  json g = global.json();
  BOOST_TEST_REQUIRE(g["warm"]["pools"].size() == 1u, g.dump(2));
  BOOST_TEST(warm_pool(g, 0)["node"].is_null());
  BOOST_TEST(warm_pool(g, 0)["pages"] == 1024);
  BOOST_TEST(tree.read(kPool2M) == "512");
}

BOOST_AUTO_TEST_CASE(warm_is_skipped_when_apply_is_refused_and_needs_the_live_host) {
  SysfsTreeDouble tree;
  auto refused = run_doctor(root_arg(tree) + " --apply --pool 2M:8@7 --warm --dry-run --json");
  BOOST_TEST(refused.exit_status == 4);
  json j = refused.json();
  BOOST_TEST(j["warm"]["outcome"] == "skipped");
  BOOST_TEST(j["warm"]["pools"].empty());
  BOOST_TEST(j["exit_status"] == 4);

  // A fake tree has no pages to fault.
  BOOST_TEST(run_doctor(root_arg(tree) + " --warm 2>/dev/null").exit_status == 64);
  BOOST_TEST(run_doctor(root_arg(tree) + " --apply --pool 2M:8 --warm 2>/dev/null").exit_status ==
             64);
  BOOST_TEST(tree.read(kPool2M) == "512");
}
