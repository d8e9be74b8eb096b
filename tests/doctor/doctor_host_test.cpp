// hugeshim-doctor on this machine: the report matches /proc and /sys,
// `--apply --pool 2M:64` shows up in the next audit, and `--warm` faults
// every free page of the pool and gives it back. The previous pool size is
// restored whatever happens.
#define BOOST_TEST_MODULE doctor_host
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <sstream>
#include <sys/utsname.h>
#include <unistd.h>

#include "doctor_process.h"
#include "pool_warmup.h"

using hugeshim::test::run_doctor;
using nlohmann::json;

namespace {

const std::string kNrHugepages = "/proc/sys/vm/nr_hugepages";

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

long meminfo(const std::string& key) {
  std::ifstream in("/proc/meminfo");
  for (std::string k; in >> k;) {
    long v;
    in >> v;
    if (k == key + ":") return v;
    in.ignore(256, '\n');
  }
  return -1;
}

const json& pool_2m(const json& report) {
  for (const auto& p : report["host"]["hugetlb_pools"])
    if (p["page_size_kb"] == 2048) return p;
  BOOST_FAIL("no 2M pool in the report");
  static json none;
  return none;
}

// Puts the 2 MiB pool back to its size at construction.
struct PoolRestore {
  std::string before = read_file(kNrHugepages);
  ~PoolRestore() { std::ofstream(kNrHugepages) << before << "\n"; }
};

}  // namespace

BOOST_AUTO_TEST_CASE(report_matches_proc_and_sys) {
  auto run = run_doctor("--json");
  BOOST_TEST_REQUIRE((run.exit_status >= 0 && run.exit_status <= 2));
  json j = run.json();
  BOOST_TEST(j["exit_status"] == run.exit_status);
  utsname u;
  uname(&u);
  BOOST_TEST(j["host"]["kernel"]["release"] == u.release);
  std::string enabled = read_file("/sys/kernel/mm/transparent_hugepage/enabled");
  BOOST_TEST(enabled.find("[" + j["host"]["thp"]["enabled"].get<std::string>() + "]") !=
             std::string::npos);
  std::string defrag = read_file("/sys/kernel/mm/transparent_hugepage/defrag");
  BOOST_TEST(defrag.find("[" + j["host"]["thp"]["defrag"].get<std::string>() + "]") !=
             std::string::npos);
  BOOST_TEST(j["host"]["meminfo"]["mem_total_kb"] == meminfo("MemTotal"));
  BOOST_TEST(j["host"]["meminfo"]["hugepage_size_kb"] == meminfo("Hugepagesize"));
  BOOST_TEST(pool_2m(j)["total"] == std::stol(read_file(kNrHugepages)));
  BOOST_TEST(j["host"]["memlock"]["source"] == "getrlimit");
}

BOOST_AUTO_TEST_CASE(apply_pool_then_audit_shows_the_change) {
  BOOST_TEST_REQUIRE(geteuid() == 0, "needs root to size the hugetlb pool");
  PoolRestore restore;
  std::ofstream(kNrHugepages) << 0 << "\n";

  auto apply = run_doctor("--apply --json --pool 2M:64");
  BOOST_TEST_REQUIRE(apply.exit_status == 0, apply.out);
  json a = apply.json()["actions"][0];
  BOOST_TEST(a["status"] == "changed");
  BOOST_TEST(a["before"] == "0");
  BOOST_TEST(a["after"] == "64");

  json report = run_doctor("--json").json();
  BOOST_TEST(pool_2m(report)["total"] == 64);
  BOOST_TEST(pool_2m(report)["free"] == meminfo("HugePages_Free"));
  BOOST_TEST(meminfo("HugePages_Total") == 64);
  bool pool_ok = false;
  for (const auto& f : report["findings"])
    pool_ok |= f["id"] == "hugetlb.pool" && f["subject"] == "2M" && f["severity"] == "ok";
  BOOST_TEST(pool_ok);

  auto again = run_doctor("--apply --json --pool 2M:64");
  BOOST_TEST(again.exit_status == 0);
  BOOST_TEST(again.json()["actions"][0]["status"] == "unchanged");
}

BOOST_AUTO_TEST_CASE(dry_run_on_the_real_host_changes_nothing) {
  std::string enabled = read_file("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string pool = read_file(kNrHugepages);
  auto run = run_doctor("--apply --dry-run --json --thp never --pool 2M:" +
                        std::to_string(std::stol(pool) + 8));
  BOOST_TEST(run.exit_status == 0);
  BOOST_TEST(read_file("/sys/kernel/mm/transparent_hugepage/enabled") == enabled);
  BOOST_TEST(read_file(kNrHugepages) == pool);
}

// Issue 12 item 3: --warm faults each free page once and unmaps it, so the pool ends as free
// as it began.
BOOST_AUTO_TEST_CASE(warm_faults_every_free_page_and_gives_them_back) {
  BOOST_TEST_REQUIRE(geteuid() == 0, "needs root to size the hugetlb pool");
  PoolRestore restore;
  std::ofstream(kNrHugepages) << 0 << "\n";

  auto apply = run_doctor("--apply --pool 2M:32 --warm");
  BOOST_TEST_REQUIRE(apply.exit_status == 0, apply.out);
  BOOST_TEST(apply.out.find("warmed 32 pages (64 MiB) in ") != std::string::npos, apply.out);
  BOOST_TEST(meminfo("HugePages_Free") == 32);

  auto warm = run_doctor("--warm --json");
  BOOST_TEST_REQUIRE(warm.exit_status == 0, warm.out);
  json j = warm.json();
  BOOST_TEST(j["kind"] == "warm");
  BOOST_TEST(j["warm"]["outcome"] == "warmed");
  BOOST_TEST(j["warm"]["pages"] == 32);
  BOOST_TEST(j["warm"]["warmed"] == 32);
  BOOST_TEST(j["warm"]["wall_us"] > 0);
  int64_t warmed = 0;
  for (const auto& p : j["warm"]["pools"]) {
    BOOST_TEST(p["page_size"] == "2M");
    BOOST_TEST(p["error"] == "");
    BOOST_TEST(p["free_after"] == p["free_before"]);
    warmed += p["warmed"].get<int64_t>();
  }
  BOOST_TEST(warmed == 32);
  BOOST_TEST(meminfo("HugePages_Free") == 32);
  BOOST_TEST(meminfo("HugePages_Rsvd") == 0);
}

// A warm-up that cannot get its pages reports it and leaves nothing mapped: here the plan
// counts more free pages than the pool has (as when a program takes them between the plan and
// the mapping), then a node that does not exist.
BOOST_AUTO_TEST_CASE(warm_failure_is_reported_and_leaves_nothing_mapped) {
  BOOST_TEST_REQUIRE(geteuid() == 0, "needs root to size the hugetlb pool");
  using namespace hugeshim::doctor;
  PoolRestore restore;
  std::ofstream(kNrHugepages) << 32 << "\n";
  BOOST_TEST_REQUIRE(meminfo("HugePages_Free") == 32);
  // With overcommit the kernel would add surplus pages instead of refusing the mapping.
  BOOST_TEST_REQUIRE(read_file("/proc/sys/vm/nr_overcommit_hugepages") == "0");

  HugePool pool;
  pool.size_kb = 2048;
  pool.total = pool.free = 64;
  WarmResult too_many = plan_warmup({pool});
  warm_pools(HostFiles("/"), too_many, nullptr);
  BOOST_TEST(warm_outcome_name(too_many.outcome) == std::string("failed"));
  BOOST_TEST(warm_exit_status(too_many) == 5);
  BOOST_TEST_REQUIRE(too_many.targets.size() == 1u);
  BOOST_TEST(too_many.targets[0].warmed == 0);
  BOOST_TEST(too_many.targets[0].error.find("mapping 64 pages failed") == 0u,
             too_many.targets[0].error);
  BOOST_TEST(too_many.targets[0].free_after.value_or(-1) == 32);

  pool.total = pool.free = 32;
  pool.nodes = {{0, 16, 16, 0}, {99, 16, 16, 0}};
  WarmResult no_node = plan_warmup({pool});
  warm_pools(HostFiles("/"), no_node, nullptr);
  BOOST_TEST(warm_outcome_name(no_node.outcome) == std::string("failed"));
  BOOST_TEST_REQUIRE(no_node.targets.size() == 2u);
  BOOST_TEST(no_node.targets[1].error.find("binding the mapping to node 99 failed") == 0u,
             no_node.targets[1].error);
  BOOST_TEST(no_node.targets[1].warmed == 0);
  BOOST_TEST(meminfo("HugePages_Free") == 32);
  BOOST_TEST(meminfo("HugePages_Rsvd") == 0);
}
