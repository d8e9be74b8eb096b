// hugeshim-doctor on this machine: the report matches /proc and /sys, and
// `--apply --pool 2M:64` shows up in the next audit. The previous pool size
// is restored whatever happens.
#define BOOST_TEST_MODULE doctor_host
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <sstream>
#include <sys/utsname.h>
#include <unistd.h>

#include "doctor_process.h"

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
