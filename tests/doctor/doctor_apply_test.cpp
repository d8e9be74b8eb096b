// apply_settings() over fake trees, with a kernel double that gives fewer
// pages than asked: checks before the first write, and the rollback (its
// order, what it restored, what it could not) and how the report says it.
#define BOOST_TEST_MODULE doctor_apply
#include <boost/test/unit_test.hpp>

#include <map>
#include <sstream>

#include "apply_settings.h"
#include "report.h"
#include "sysfs_tree_double.h"

namespace hugeshim::doctor {
// Let Boost.Test print a status that differs from the expected one.
std::ostream& operator<<(std::ostream& out, ApplyStatus s) { return out << apply_status_name(s); }
std::ostream& operator<<(std::ostream& out, RollbackStatus s) {
  return out << rollback_status_name(s);
}
}  // namespace hugeshim::doctor

using namespace hugeshim::doctor;
using hugeshim::test::SysfsTreeDouble;

namespace {

// The kernel's side of writes to a fake tree: a pool file can be given a
// page limit, and a write asking for more leaves the limit, as the kernel
// does when it runs out of memory. Every write is logged, in order.
class KernelDouble : public HostFiles {
 public:
  explicit KernelDouble(const SysfsTreeDouble& tree) : HostFiles(tree.root()) {}
  void limit_pages(const std::string& host_path, int64_t pages) { limits_[host_path] = pages; }
  int write(std::string_view host_path, std::string_view value) const override {
    std::string path(host_path), v(value);
    writes.push_back(path + "=" + v);
    auto limit = limits_.find(path);
    if (limit != limits_.end() && std::stoll(v) > limit->second) v = std::to_string(limit->second);
    return HostFiles::write(host_path, v);
  }
  // Written by apply's pool writer thread, read after it has been joined.
  mutable std::vector<std::string> writes;

 private:
  std::map<std::string, int64_t> limits_;
};

const std::string kEnabled = "/sys/kernel/mm/transparent_hugepage/enabled";

std::string node_pool(int node, uint64_t size_kb = 2048) {
  return pool_count_path({size_kb, node, 0});
}

// Node 1 (8 GiB, 6 GiB free) beside node 0, which holds the 512-page 2M
// pool; THP 'always'.
struct TwoNodeHost {
  TwoNodeHost() : kernel(tree) {
    tree.set_thp("always", "always");
    tree.add_numa_node(1);
    tree.set_node_pool(1, 2048, 0, 0);
    tree.set_node_pool(1, 1048576, 0, 0);
    tree.set_node_meminfo(0, 16L << 20, 12L << 20);
    tree.set_node_meminfo(1, 8L << 20, 6L << 20);
  }
  // Moves the 2M pool to node 1 and adds a 1G page there.
  static ApplyRequest move_pool() {
    ApplyRequest r;
    r.thp = "madvise";
    r.pools = {{2048, 0, 0}, {2048, 1, 1024}, {1048576, 1, 1}};
    return r;
  }
  std::string text(const ApplyResult& result) {
    std::ostringstream out;
    print_apply_text(out, result, false);
    return out.str();
  }
  SysfsTreeDouble tree;
  KernelDouble kernel;
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(short_pool_rolls_back_every_change_last_first, TwoNodeHost) {
  kernel.limit_pages(node_pool(1), 700);
  ApplyResult r = apply_settings(kernel, move_pool(), nullptr);

  BOOST_TEST(apply_outcome_name(r.outcome) == std::string("rolled_back"));
  BOOST_TEST(apply_exit_status(r) == kExitApplyShort);
  BOOST_TEST(r.problems.empty());
  // Forward up to the short pool, then back, the short pool itself first.
  std::vector<std::string> expected{kEnabled + "=madvise",  node_pool(0) + "=0",
                                    node_pool(1) + "=1024", node_pool(1) + "=0",
                                    node_pool(0) + "=512",  kEnabled + "=always"};
  BOOST_TEST(kernel.writes == expected, boost::test_tools::per_element());
  BOOST_TEST(tree.read(kEnabled) == "always");
  BOOST_TEST(tree.read(node_pool(0)) == "512");
  BOOST_TEST(tree.read(node_pool(1)) == "0");
  BOOST_TEST(tree.read(node_pool(1, 1048576)) == "0");

  BOOST_TEST_REQUIRE(r.actions.size() == 4u);
  BOOST_TEST(r.actions[0].status == ApplyStatus::changed);
  BOOST_TEST(r.actions[0].rollback == RollbackStatus::restored);
  BOOST_TEST(r.actions[0].after == "always");
  BOOST_TEST(r.actions[1].written == "0");
  BOOST_TEST(r.actions[1].rollback == RollbackStatus::restored);
  BOOST_TEST(r.actions[1].after == "512");
  BOOST_TEST(r.actions[2].status == ApplyStatus::short_);
  BOOST_TEST(r.actions[2].written == "700");
  BOOST_TEST(r.actions[2].rollback == RollbackStatus::restored);
  BOOST_TEST(r.actions[2].after == "0");
  BOOST_TEST(r.actions[3].status == ApplyStatus::skipped);
  BOOST_TEST(r.actions[3].note == "not written: hugetlb.pool 2M@1 failed before it");

  std::string out = text(r);
  BOOST_TEST(out.find("the kernel found memory for only 700 of 1024 pages") != std::string::npos,
             out);
  auto node1 = out.find("    hugetlb.pool 2M@1     restored 0 (was 700)\n");
  auto node0 = out.find("    hugetlb.pool 2M@0     restored 512 (was 0)\n");
  auto thp = out.find("    thp.enabled           restored always (was madvise)\n");
  BOOST_TEST(node1 != std::string::npos, out);
  BOOST_TEST(node0 != std::string::npos, out);
  BOOST_TEST(thp != std::string::npos, out);
  BOOST_TEST((node1 < node0 && node0 < thp), out);
  BOOST_TEST(out.find("the host is as it was before") != std::string::npos, out);
}

BOOST_FIXTURE_TEST_CASE(rollback_that_cannot_restore_a_pool_says_so_and_goes_on, TwoNodeHost) {
  kernel.limit_pages(node_pool(1), 700);
  kernel.limit_pages(node_pool(0), 300);  // giving back node 0's pages finds room for 300
  ApplyResult r = apply_settings(kernel, move_pool(), nullptr);

  BOOST_TEST(apply_outcome_name(r.outcome) == std::string("rollback_incomplete"));
  BOOST_TEST(apply_exit_status(r) == kExitApplyFailed);
  BOOST_TEST_REQUIRE(r.actions.size() == 4u);
  BOOST_TEST(r.actions[1].rollback == RollbackStatus::failed);
  BOOST_TEST(r.actions[1].after == "300");
  BOOST_TEST(r.actions[1].rollback_note.find("wrote 512, reads back 300 (the kernel found memory "
                                             "for only 300 of 512 pages") == 0u,
             r.actions[1].rollback_note);
  // The failure does not stop the rollback of the settings before it.
  BOOST_TEST(r.actions[0].rollback == RollbackStatus::restored);
  BOOST_TEST(tree.read(kEnabled) == "always");
  BOOST_TEST(r.actions[2].rollback == RollbackStatus::restored);
  BOOST_TEST(tree.read(node_pool(1)) == "0");

  std::string out = text(r);
  BOOST_TEST(out.find("    hugetlb.pool 2M@0     NOT restored: wrote 512, reads back 300") !=
                 std::string::npos,
             out);
  BOOST_TEST(out.find("the host is NOT as it was before") != std::string::npos, out);
}

BOOST_FIXTURE_TEST_CASE(refused_request_never_writes, TwoNodeHost) {
  ApplyRequest request = move_pool();
  request.pools.push_back({2048, 7, 8});
  ApplyResult r = apply_settings(kernel, request, nullptr);
  BOOST_TEST(kernel.writes.size() == 0u);
  BOOST_TEST(apply_outcome_name(r.outcome) == std::string("refused"));
  BOOST_TEST(apply_exit_status(r) == kExitApplyFailed);
  BOOST_TEST_REQUIRE(r.problems.size() == 1u);
  BOOST_TEST(r.problems[0] == "--pool 2M:8@7: NUMA node 7 does not exist (nodes: 0, 1)");
  BOOST_TEST_REQUIRE(r.actions.size() == 5u);
  for (size_t i = 0; i < 4; ++i) BOOST_TEST(r.actions[i].status == ApplyStatus::skipped);
  BOOST_TEST(r.actions[4].status == ApplyStatus::failed);
}

BOOST_FIXTURE_TEST_CASE(dry_run_checks_and_never_writes, TwoNodeHost) {
  ApplyRequest request = move_pool();
  request.dry_run = true;
  ApplyResult r = apply_settings(kernel, request, nullptr);
  BOOST_TEST(kernel.writes.size() == 0u);
  BOOST_TEST(apply_outcome_name(r.outcome) == std::string("planned"));
  BOOST_TEST(apply_exit_status(r) == 0);
  for (const auto& a : r.actions) BOOST_TEST(a.status == ApplyStatus::planned);
}
