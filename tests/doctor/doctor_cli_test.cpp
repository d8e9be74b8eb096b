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
  for (const auto& a : first.json()["actions"]) BOOST_TEST(a["status"] == "changed", a.dump());
  BOOST_TEST(tree.read("/sys/kernel/mm/transparent_hugepage/enabled") == "madvise");
  BOOST_TEST(tree.read("/sys/kernel/mm/transparent_hugepage/defrag") == "never");
  BOOST_TEST(tree.read("/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages") ==
             "64");
  BOOST_TEST(tree.read("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages") == "64");

  auto second = run_doctor(args);
  BOOST_TEST(second.exit_status == 0);
  for (const auto& a : second.json()["actions"]) BOOST_TEST(a["status"] == "unchanged", a.dump());
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
