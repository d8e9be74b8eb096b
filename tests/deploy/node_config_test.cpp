// `hugeshim node` with the shipped example configuration
// (deploy/node/node.conf) against a fake sysfs/procfs tree: the changes it
// plans, an apply that changes the tree once and nothing the second time,
// and bad configuration files refused with one line before anything runs.
#define BOOST_TEST_MODULE node_config
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "../doctor/sysfs_tree_double.h"
#include "process.h"
#include "temp_dir.h"

using hugeshim::test::SysfsTreeDouble;
using hugeshim_test::run;
using hugeshim_test::RunResult;

namespace {

const std::string kNode = std::string(HUGESHIM_BIN_DIR) + "/hugeshim";
const std::string kExampleConfig = std::string(HUGESHIM_SOURCE_DIR) + "/deploy/node/node.conf";

// A two-node host: the example asks for pools on nodes 0 and 1.
void make_two_node_host(SysfsTreeDouble& tree) {
  tree.add_numa_node(1);
  tree.set_node_pool(1, 2048, 0, 0);
  tree.set_node_pool(1, 1048576, 0, 0);
  tree.set_node_pool(0, 2048, 512, 512);
  tree.set_node_meminfo(0, 64L << 20, 60L << 20);
  tree.set_node_meminfo(1, 64L << 20, 60L << 20);
  tree.set_pool(2048, 512, 512);
}

using hugeshim_test::TempDir;

RunResult node(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {kNode, "node"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

const nlohmann::json* action(const nlohmann::json& report, const std::string& setting, const std::string& subject) {
  for (const auto& a : report["actions"])
    if (a["setting"] == setting && a["subject"] == subject) return &a;
  return nullptr;
}

std::string write_config(const std::string& dir, const std::string& text) {
  std::string path = dir + "/node.conf";
  std::ofstream(path) << text;
  return path;
}

}  // namespace

BOOST_AUTO_TEST_CASE(example_config_plans_its_pools_thp_modes_and_warm_up) {
  SysfsTreeDouble tree;
  make_two_node_host(tree);
  RunResult r = node({"--config", kExampleConfig, "--root", tree.root(), "--dry-run", "--json"});
  BOOST_TEST_MESSAGE(r.err);
  BOOST_REQUIRE_EQUAL(r.status, 0);
  nlohmann::json j = nlohmann::json::parse(r.out);
  BOOST_TEST(j["kind"] == "apply");
  BOOST_TEST(j["outcome"] == "planned");
  BOOST_TEST(j["dry_run"] == true);
  BOOST_TEST(j["actions"].size() == 5u);
  // POOLS="2M:4096@0 2M:4096@1": node 0 from its 512 pages, node 1 from none.
  const nlohmann::json* pool0 = action(j, "hugetlb.pool", "2M@0");
  const nlohmann::json* pool1 = action(j, "hugetlb.pool", "2M@1");
  BOOST_REQUIRE(pool0 && pool1);
  BOOST_TEST((*pool0)["before"] == "512");
  BOOST_TEST((*pool1)["before"] == "0");
  for (const nlohmann::json* p : {pool0, pool1}) {
    BOOST_TEST((*p)["requested"] == "4096");
    BOOST_TEST((*p)["status"] == "planned");
  }
  // THP=madvise and SHMEM=advise are what the tree has; DEFRAG changes.
  const nlohmann::json* thp = action(j, "thp.enabled", "");
  const nlohmann::json* shmem = action(j, "thp.shmem_enabled", "");
  const nlohmann::json* defrag = action(j, "thp.defrag", "");
  BOOST_REQUIRE(thp && shmem && defrag);
  BOOST_TEST((*thp)["status"] == "unchanged");
  BOOST_TEST((*shmem)["status"] == "unchanged");
  BOOST_TEST((*defrag)["before"] == "never");
  BOOST_TEST((*defrag)["requested"] == "defer+madvise");
  BOOST_TEST((*defrag)["status"] == "planned");
  // WARM=yes: the warm-up is planned against the pools the apply leaves.
  BOOST_REQUIRE(j.contains("warm"));
  BOOST_TEST(j["warm"]["outcome"] == "planned");
  BOOST_TEST(j["warm"]["pages"] == 8192);
  // Nothing was written.
  BOOST_TEST(tree.read("/sys/kernel/mm/transparent_hugepage/defrag") == "always defer defer+madvise madvise [never]");
  BOOST_TEST(tree.read("/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages") == "0");
  // The command it ran is logged (into the journal under systemd).
  BOOST_TEST(r.err.find("hugeshim doctor --apply --pool 2M:4096@0 --pool 2M:4096@1 --thp madvise "
                        "--defrag defer+madvise --shmem advise --warm") != std::string::npos);
}

// The boot unit runs on every boot: the second run finds everything as
// asked and changes nothing. (Warm-up faults this host's own pages, so it
// stays out of an apply on a fake tree.)
BOOST_AUTO_TEST_CASE(apply_is_idempotent) {
  SysfsTreeDouble tree;
  make_two_node_host(tree);
  TempDir dir;
  std::string config = write_config(dir.path(), "POOLS=\"2M:64@0 2M:32@1\"\nDEFRAG=defer+madvise\nWARM=no\n");
  RunResult first = node({"--config", config, "--root", tree.root(), "--json"});
  BOOST_TEST_MESSAGE(first.err);
  BOOST_REQUIRE_EQUAL(first.status, 0);
  nlohmann::json j = nlohmann::json::parse(first.out);
  BOOST_TEST(j["outcome"] == "applied");
  BOOST_TEST(tree.read("/sys/kernel/mm/transparent_hugepage/defrag") == "defer+madvise");
  BOOST_TEST(tree.read("/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages") == "32");

  RunResult second = node({"--config", config, "--root", tree.root(), "--json"});
  BOOST_REQUIRE_EQUAL(second.status, 0);
  nlohmann::json k = nlohmann::json::parse(second.out);
  BOOST_TEST(k["actions"].size() == 3u);
  for (const auto& a : k["actions"]) {
    BOOST_TEST_CONTEXT(a.dump()) { BOOST_TEST(a["status"] == "unchanged"); }
  }
}

BOOST_AUTO_TEST_CASE(bad_configuration_is_one_line_and_exit_64) {
  SysfsTreeDouble tree;
  TempDir dir;
  const std::pair<std::string, std::string> cases[] = {
      {"POOLS=2M:64\nSWAP=on\n", "node.conf:2: unknown setting SWAP"},
      {"WARM=maybe\n", "node.conf:1: WARM is yes or no, not 'maybe'"},
      {"THP madvise\n", "node.conf:1: not KEY=VALUE"},
  };
  for (const auto& [text, message] : cases) {
    std::string config = write_config(dir.path(), text);
    RunResult r = node({"--config", config, "--root", tree.root()});
    BOOST_TEST_CONTEXT(text) {
      BOOST_TEST(r.status == 64);
      BOOST_TEST(r.err.find(message) != std::string::npos, r.err);
      BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') == 1);
      BOOST_TEST(r.out.empty());
    }
  }
  RunResult missing = node({"--config", dir.path() + "/absent.conf"});
  BOOST_TEST(missing.status == 64);
  BOOST_TEST(missing.err.find("cannot read") != std::string::npos);
  // A value the doctor refuses: its own usage error, nothing written.
  std::string config = write_config(dir.path(), "THP=sometimes\n");
  RunResult r = node({"--config", config, "--root", tree.root()});
  BOOST_TEST(r.status == 64);
  BOOST_TEST(tree.read("/sys/kernel/mm/transparent_hugepage/enabled") == "always [madvise] never");
}
