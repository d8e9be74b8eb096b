// hugeshim-bench: the JSON document (schema and sanity on a tiny size), one
// clear line for bad arguments, and the hugetlb pool it grows for a run put
// back afterwards: at the end of a run and when the run is interrupted.
#define BOOST_TEST_MODULE bench
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "process.h"

using namespace hugeshim_test;

namespace {

const std::string kBench = std::string(HUGESHIM_BIN_DIR) + "/hugeshim-bench";
constexpr const char* kNrHugepages = "/proc/sys/vm/nr_hugepages";

long nr_hugepages() {
  std::ifstream f(kNrHugepages);
  long n = -1;
  f >> n;
  return n;
}

void set_nr_hugepages(long n) {
  std::ofstream f(kNrHugepages);
  f << n;
}

// Puts the pool back to `pages` and leaves it there (restores the test's
// own change even when a check fails).
struct PoolAt {
  long before = nr_hugepages();
  explicit PoolAt(long pages) { set_nr_hugepages(pages); }
  ~PoolAt() { set_nr_hugepages(before); }
};

}  // namespace

BOOST_AUTO_TEST_CASE(json_on_a_tiny_size) {
  PoolAt empty(0);
  RunResult r = run({kBench, "--min", "8M", "--max", "8M", "--repeat", "2", "--json"});
  BOOST_REQUIRE_MESSAGE(r.status == 0, r.err);
  nlohmann::json j = nlohmann::json::parse(r.out);
  BOOST_TEST(j["schema"] == "hugeshim-bench/1");
  BOOST_TEST(j["settings"]["repeat"] == 2);
  BOOST_TEST(j["settings"]["sizes_bytes"] == nlohmann::json::array({8u << 20}));
  BOOST_TEST(j["host"].contains("thp_enabled"));
  BOOST_TEST(j["host"].contains("loadavg"));
  BOOST_TEST(j["pool_restored"] == true);
  BOOST_TEST(j["wall_seconds"].get<double>() > 0);
  std::set<std::string> backings, phases;
  for (const auto& row : j["results"]) {
    backings.insert(row["backing"]);
    phases.insert(row["phase"]);
    BOOST_TEST(row["size_bytes"] == 8u << 20);
    const auto& s = row["seconds_per_gib"];
    BOOST_TEST(s["min"].get<double>() >= 0);
    BOOST_TEST(s["min"].get<double>() <= s["median"].get<double>());
    BOOST_TEST(s["median"].get<double>() <= s["max"].get<double>());
    BOOST_TEST(row["samples"].size() == 2u);
    if (row["backing"] == "base") BOOST_TEST(row["ratio_to_base"].get<double>() == 1.0);
    if (row["backing"] == "base") BOOST_TEST(row["huge_bytes"] == 0u);
    if (row["backing"] == "hugetlb-2M" && row["phase"] == "populate") BOOST_TEST(row["huge_bytes"] == 8u << 20);
  }
  for (const char* b : {"base", "thp", "hugetlb-2M", "shim"}) BOOST_TEST(backings.count(b) == 1u, b);
  for (const char* p : {"reserve", "populate", "mlock"}) BOOST_TEST(phases.count(p) == 1u, p);
  // No GPU here: the CUDA phases are absent and the host says why.
  if (j["host"]["cuda"] != "available") BOOST_TEST(phases.count("cudaHostRegister") == 0u);
  if (!j["host"]["hugetlb_1g_exists"].get<bool>()) BOOST_TEST(j["skipped"].contains("hugetlb-1G"));
  // The pool it grew for the run is back to empty.
  BOOST_TEST(nr_hugepages() == 0);
}

BOOST_AUTO_TEST_CASE(bad_arguments_get_one_line_and_status_2) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--max", "3M"}, {"--max", "lots"}, {"--repeat", "0"}, {"--backings", "base,giant"}, {"--frobnicate"}}) {
    std::vector<std::string> argv = {kBench};
    argv.insert(argv.end(), args.begin(), args.end());
    RunResult r = run(argv);
    BOOST_TEST(r.status == 2);
    BOOST_TEST(r.err.find("hugeshim bench: ") == 0u, r.err);
    BOOST_TEST(r.out.empty());
  }
}

BOOST_AUTO_TEST_CASE(pool_is_restored_when_interrupted) {
  PoolAt start(3);  // a pool the operator had, smaller than the run needs
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    execl(kBench.c_str(), kBench.c_str(), "--min", "512M", "--max", "512M", "--repeat", "50", "--backings",
          "base,hugetlb-2M", static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait until it has grown the pool, then interrupt it mid-run.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (nr_hugepages() == 3 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  BOOST_TEST(nr_hugepages() >= 256);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  BOOST_TEST(WIFSIGNALED(status));
  BOOST_TEST(WTERMSIG(status) == SIGINT);
  BOOST_TEST(nr_hugepages() == 3);
}
