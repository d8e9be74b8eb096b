// The `hugeshim` CLI end to end with the real libhugeshim.so: run a python3
// that allocates and frees 1 GiB in 64 MiB pieces, then check the SQLite
// file (with the query documented in docs/RING.md), the JSON and CSV
// reports, exit statuses, fork, config and subcommand dispatch.
#define BOOST_TEST_MODULE cli_end_to_end
#include <boost/test/unit_test.hpp>
#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include "process.h"
#include "producer_child.h"
#include "sqlite_db.h"

using namespace hugeshim;
using namespace hugeshim::test;

namespace {

const std::string kHugeshim = std::string(HUGESHIM_BIN_DIR) + "/hugeshim";

// `hugeshim run` preloads the shim into its command with this process's
// environment. This test does not hold the hugetlb pool lock, so every shim
// it starts gets a pool-free ladder (tests/support/process.h).
struct PoolFreeShims {
  PoolFreeShims() { setenv("HUGESHIM_PAGES", hugeshim_test::kPoolFreeLadder, 1); }
};
BOOST_TEST_GLOBAL_FIXTURE(PoolFreeShims);

struct Output {
  int status;
  std::string out;
};

// Runs a shell command line, capturing stdout; status as from system().
Output shell(const std::string& command) {
  fflush(nullptr);
  FILE* p = popen(command.c_str(), "r");
  BOOST_REQUIRE(p);
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// The example query of docs/RING.md ("Bytes and worst latency per API and page class").
constexpr const char* kDocumentedQuery =
    "SELECT api, page_class, count(*) AS events, sum(requested) AS bytes, max(duration_ns) AS max_ns "
    "FROM events GROUP BY api, page_class ORDER BY bytes DESC";

// The sleep lets the collector see the process alive and capture its maps
// (callers of a process that ends before the first discovery stay raw
// addresses; docs/RING.md).
constexpr const char* kPython =
    "/usr/bin/python3 -c 'exec(\"import time\\ntime.sleep(0.2)\\nfor i in range(16):\\n b = bytearray(64 << 20)\\n b[-1] = 1\\n del b\")'";

}  // namespace

BOOST_AUTO_TEST_CASE(run_python_records_sixteen_64mib_allocations) {
  TempDir dir;
  const std::string db_path = dir.file("run.db");
  Output run = shell(kHugeshim + " run -o " + db_path + " -- " + kPython + " 2>" + dir.file("summary.txt"));
  BOOST_REQUIRE_EQUAL(run.status, 0);
  std::ifstream summary_file(dir.file("summary.txt"));
  std::string summary((std::istreambuf_iterator<char>(summary_file)), {});
  BOOST_TEST_MESSAGE(summary);
  BOOST_CHECK(summary.find("latency:") != std::string::npos);
  BOOST_CHECK(summary.find("largest events:") != std::string::npos);

  collector::Database db(db_path, collector::Database::Mode::read_only);
  BOOST_CHECK_EQUAL(query_int(db, "SELECT count(*) FROM events WHERE api IN ('malloc', 'calloc') "
                                  "AND requested >= 64 << 20"), 16);
  BOOST_CHECK_EQUAL(query_int(db, "SELECT count(*) FROM events WHERE api = 'free' AND requested >= 64 << 20"), 16);
  BOOST_CHECK_EQUAL(query_int(db, "SELECT count(*) FROM events WHERE caller_module IS NOT NULL"),
                    query_int(db, "SELECT count(*) FROM events"));
  collector::Statement q = db.prepare(kDocumentedQuery);
  int64_t bytes = 0;
  while (q.step()) bytes += q.int64(3);
  BOOST_CHECK_GE(bytes, 2ll << 30);  // 1 GiB allocated + 1 GiB freed

  Output json_report = shell(kHugeshim + " report " + db_path + " --format json");
  BOOST_REQUIRE_EQUAL(json_report.status, 0);
  nlohmann::json report = nlohmann::json::parse(json_report.out);  // throws if it does not parse
  BOOST_REQUIRE_EQUAL(report["processes"].size(), 1u);
  const auto& process = report["processes"][0];
  BOOST_CHECK_EQUAL(process["state"], "exited");
  bool saw_latency = false;
  for (const auto& api : process["apis"]) {
    double shares = 0;
    for (auto& [page, share] : api["coverage"].items()) shares += share.get<double>();
    if (api["bytes_mapped"].get<int64_t>() > 0) BOOST_CHECK_CLOSE(shares, 1.0, 1e-6);
    for (const auto& l : api["latency"]) {
      saw_latency = true;
      BOOST_CHECK_LE(l["p50_ns"].get<uint64_t>(), l["p99_ns"].get<uint64_t>());
      BOOST_CHECK_LE(l["p999_ns"].get<uint64_t>(), l["max_ns"].get<uint64_t>());
    }
  }
  BOOST_CHECK(saw_latency);
  BOOST_CHECK_EQUAL(process["largest"][0]["requested"].get<int64_t>() >= (64 << 20), true);

  Output csv = shell(kHugeshim + " report " + db_path + " --format csv");
  BOOST_CHECK_EQUAL(csv.status, 0);
  BOOST_CHECK(csv.out.rfind("pid,exe,api,events", 0) == 0);
}

BOOST_AUTO_TEST_CASE(run_returns_the_command_status) {
  TempDir dir;
  const std::string out = " -o " + dir.file("s.db") + " --force --format none -- ";
  BOOST_CHECK_EQUAL(shell(kHugeshim + " run" + out + "sh -c 'exit 3' 2>/dev/null").status, 3);
  BOOST_CHECK_EQUAL(shell(kHugeshim + " run" + out + "sh -c 'kill -9 $$' 2>/dev/null").status, 128 + 9);
  BOOST_CHECK_EQUAL(shell(kHugeshim + " run" + out + "/nonexistent/program 2>/dev/null").status, 127);
}

BOOST_AUTO_TEST_CASE(run_follows_forked_children) {
  TempDir dir;
  const std::string db_path = dir.file("fork.db");
  const std::string py =
      "/usr/bin/python3 -c 'exec(\"import os\\nb = bytearray(8 << 20)\\npid = os.fork()\\n"
      "c = bytearray(16 << 20)\\nif pid: os.waitpid(pid, 0)\")'";
  BOOST_REQUIRE_EQUAL(shell(kHugeshim + " run --format none -o " + db_path + " -- " + py + " 2>/dev/null").status, 0);
  collector::Database db(db_path, collector::Database::Mode::read_only);
  BOOST_CHECK_EQUAL(query_int(db, "SELECT count(*) FROM processes"), 2);
  // Each process recorded its own 16 MiB allocation in its own segment.
  BOOST_CHECK_EQUAL(query_int(db, "SELECT count(DISTINCT process_id) FROM events WHERE requested >= 16 << 20 "
                                  "AND api IN ('malloc', 'calloc')"), 2);
}

BOOST_AUTO_TEST_CASE(run_follows_exec) {
  // exec keeps pid and start time: the new image still needs its own segment.
  TempDir dir;
  const std::string db_path = dir.file("exec.db");
  const std::string py = "sh -c \"exec /usr/bin/python3 -c 'b = bytearray(32 << 20)'\"";
  BOOST_REQUIRE_EQUAL(shell(kHugeshim + " run --format none -o " + db_path + " -- " + py + " 2>/dev/null").status, 0);
  collector::Database db(db_path, collector::Database::Mode::read_only);
  BOOST_CHECK_EQUAL(query_int(db, "SELECT count(*) FROM events e JOIN processes p ON p.id = e.process_id "
                                  "WHERE p.exe LIKE '%python%' AND e.requested >= 32 << 20 "
                                  "AND e.api IN ('malloc', 'calloc')"), 1);
}

BOOST_AUTO_TEST_CASE(config_prints_effective_values) {
  Output config = shell("HUGESHIM_RING_SLOTS=1024 " + kHugeshim + " config --format json");
  BOOST_REQUIRE_EQUAL(config.status, 0);
  bool found = false;
  for (const auto& row : nlohmann::json::parse(config.out))
    if (row["name"] == "HUGESHIM_RING_SLOTS") {
      found = true;
      BOOST_CHECK_EQUAL(row["value"], "1024");
      BOOST_CHECK_EQUAL(row["default"], "16384");
    }
  BOOST_CHECK(found);
}

BOOST_AUTO_TEST_CASE(unknown_subcommand_runs_the_sibling_executable) {
  TempDir dir;
  BOOST_REQUIRE(std::filesystem::copy_file(kHugeshim, dir.file("hugeshim")));
  {
    std::ofstream tool(dir.file("hugeshim-greet"));
    tool << "#!/bin/sh\necho \"greet $*\"\nexit 5\n";
  }
  chmod(dir.file("hugeshim-greet").c_str(), 0755);
  chmod(dir.file("hugeshim").c_str(), 0755);
  Output out = shell(dir.file("hugeshim") + " greet a b");
  BOOST_CHECK_EQUAL(out.status, 5);
  BOOST_CHECK_EQUAL(out.out, "greet a b\n");
  BOOST_CHECK_EQUAL(shell(dir.file("hugeshim") + " nosuchtool 2>/dev/null").status, 127);
}
