// `hugeshim run --kernel` on this kernel: a program's hugetlb populate,
// lazily touched hugetlb pages and THP populate are recorded from its own
// threads only (a noisy process beside it is not), nothing is lost at this
// rate, and the tracefs instance is gone afterwards. `record --kernel`
// follows a process from the moment its ring is found and ends cleanly on
// SIGTERM (instance removed, session row finished). As another user,
// --kernel says it needs root in one line and the recording is complete.
// Needs root and tracefs; skipped with a message otherwise.
#define BOOST_TEST_MODULE kernel_capture
#include <boost/test/unit_test.hpp>

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <set>
#include <thread>

#include "process.h"
#include "ring_dir.h"
#include "sqlite_db.h"
#include "temp_dir.h"
#include "thp_mode.h"

using namespace hugeshim_test;
using hugeshim::collector::Database;
namespace fs = std::filesystem;

namespace {

const std::string kTracefs = "/sys/kernel/tracing";

bool tracefs_usable() {
  if (geteuid() != 0) {
    BOOST_TEST_MESSAGE("skipped: --kernel needs root");
    return false;
  }
  if (!fs::exists(kTracefs + "/events") && mount("nodev", kTracefs.c_str(), "tracefs", 0, nullptr) != 0) {
    BOOST_TEST_MESSAGE("skipped: tracefs cannot be mounted here");
    return false;
  }
  return true;
}

std::set<std::string> our_instances() {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(kTracefs + "/instances"))
    if (e.path().filename().string().rfind("hugeshim-", 0) == 0) names.insert(e.path().filename().string());
  return names;
}

int64_t scalar(Database& db, const std::string& sql) {
  auto q = db.prepare(sql);
  BOOST_REQUIRE(q.step());
  return q.int64(0);
}

long field_of(const std::string& line, const std::string& key) {
  const size_t at = line.find(key + "=");
  BOOST_REQUIRE(at != std::string::npos);
  return std::stol(line.substr(at + key.size() + 1));
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_program_kernel_events_come_from_its_threads_only) {
  if (!tracefs_usable()) return;
  HugePool pool(meminfo("HugePages_Total") + 8);  // the program maps 8 pages itself
  Child sibling({bin_dir() + "/noisy_sibling"}, {});
  const long sibling_pid = std::stol(sibling.read_line());
  const std::set<std::string> before = our_instances();
  TempDir dir;
  const std::string db_path = dir.path() + "/k.db";
  Env env;
  env["HUGESHIM_PAGES"] = kPoolFreeLadder;  // the program maps its hugetlb pages itself
  RunResult r = run({bin_dir() + "/hugeshim", "run", "--kernel", "--format", "none", "-o", db_path, "--",
                     bin_dir() + "/kernel_workload"},
                    env);
  kill(sibling.pid(), SIGKILL);
  sibling.wait();
  BOOST_TEST_MESSAGE("hugeshim run stderr:\n" << r.err);
  BOOST_REQUIRE_EQUAL(r.status, 0);
  BOOST_TEST(r.err.find("kernel events: ") != std::string::npos);
  BOOST_TEST(r.err.find(" stored, 0 lost") != std::string::npos);
  BOOST_TEST((our_instances() == before));  // ours removed, nobody else's touched

  const long pid = field_of(r.out, "pid"), lazy_tid = field_of(r.out, "lazy_tid");
  const long lazy = field_of(r.out, "lazy");
  Database db(db_path, Database::Mode::read_only);
  BOOST_TEST(scalar(db, "SELECT count(*) FROM kernel_trace") == 1);
  BOOST_TEST(scalar(db, "SELECT events_lost FROM kernel_trace") == 0);
  BOOST_TEST(scalar(db, "SELECT events_read FROM kernel_trace") == scalar(db, "SELECT count(*) FROM kernel_events"));
  BOOST_TEST(scalar(db, "SELECT count(*) FROM kernel_trace WHERE iommu IN ('present','none','unknown')") == 1);
  // Only the program's threads: never the sibling, and every known thread
  // group is the program's.
  BOOST_TEST(scalar(db, "SELECT count(*) FROM kernel_events WHERE tid = " + std::to_string(sibling_pid)) == 0);
  BOOST_TEST(scalar(db, "SELECT count(*) FROM kernel_events WHERE pid IS NOT NULL AND pid != " + std::to_string(pid)) == 0);
  // Two hugetlb mappings: an inode each in the kernel's internal hugetlbfs.
  BOOST_TEST(scalar(db, "SELECT count(*) FROM kernel_events WHERE event = 'hugetlbfs:hugetlbfs_alloc_inode' AND tid = " +
                            std::to_string(pid)) >= 2);
  // The lazy region: one user fault per 2 MiB page, from the thread that touched it.
  const std::string in_lazy = "json_extract(fields, '$.address') BETWEEN " + std::to_string(lazy) + " AND " +
                              std::to_string(lazy + (8 << 20) - 1);
  BOOST_TEST(scalar(db, "SELECT count(*) FROM kernel_events WHERE event = 'exceptions:page_fault_user' AND " + in_lazy +
                            " AND tid = " + std::to_string(lazy_tid)) == 4);
  BOOST_TEST(scalar(db, "SELECT count(*) FROM kernel_events WHERE " + in_lazy + " AND tid != " + std::to_string(lazy_tid)) == 0);
  // The populated hugetlb region faults in the kernel: no user fault there,
  // and its pages come from the pool (no order-9 allocation).
  if (thp_enabled()) {
    BOOST_TEST(scalar(db, "SELECT count(*) FROM kernel_events WHERE event = 'kmem:mm_page_alloc' AND tid = " +
                              std::to_string(pid) + " AND json_extract(fields, '$.order') = 9") >= 1);
  } else {
    BOOST_TEST_MESSAGE("THP is '" << thp_mode() << "' here: no THP allocation expected");
  }
}

// 131072 user faults in about a second here: more than the collector
// takes out per second, so the kernel buffer holds a backlog that is read
// after the thread's exit record. Every fault is stored or counted lost.
BOOST_AUTO_TEST_CASE(a_burst_of_faults_is_stored_or_counted) {
  if (!tracefs_usable()) return;
  TempDir dir;
  const std::string db_path = dir.path() + "/b.db";
  RunResult r = run({bin_dir() + "/hugeshim", "run", "--kernel", "--format", "none", "-o", db_path, "--",
                     bin_dir() + "/noisy_sibling", "128"},
                    {{"HUGESHIM_PAGES", kPoolFreeLadder}});
  BOOST_TEST_MESSAGE("stderr:\n" << r.err);
  BOOST_REQUIRE_EQUAL(r.status, 0);
  const std::string pid = std::to_string(std::stol(r.out));
  Database db(db_path, Database::Mode::read_only);
  const int64_t faults =
      scalar(db, "SELECT count(*) FROM kernel_events WHERE event = 'exceptions:page_fault_user' AND tid = " + pid);
  const int64_t lost = scalar(db, "SELECT events_lost FROM kernel_trace");
  BOOST_TEST_MESSAGE("faults stored " << faults << ", lost " << lost);
  BOOST_TEST(faults + lost >= 131072);
}

BOOST_AUTO_TEST_CASE(record_follows_a_process_once_its_ring_is_found) {
  if (!tracefs_usable()) return;
  HugePool pool(meminfo("HugePages_Total") + 8);
  RingDir ring;
  TempDir dir;
  const std::string db_path = dir.path() + "/r.db";
  const std::set<std::string> before = our_instances();
  Child recorder({bin_dir() + "/hugeshim", "record", "--kernel", "--dir", ring.path(), "-o", db_path}, {});
  Env env = with_shim(ring.recording());
  Child workload({bin_dir() + "/kernel_workload", "--wait"}, env);
  BOOST_REQUIRE_EQUAL(workload.read_line(), "ready");
  // Attached once its process row is stored.
  bool attached = false;
  for (int i = 0; i < 100 && !attached; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    try {
      Database db(db_path, Database::Mode::read_only);
      auto q = db.prepare("SELECT count(*) FROM processes");
      attached = q.step() && q.int64(0) == 1;
    } catch (const std::exception&) {
    }
  }
  BOOST_REQUIRE(attached);
  const std::string done = workload.ask("go");
  BOOST_REQUIRE_EQUAL(workload.wait(), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a read of the kernel buffers
  kill(recorder.pid(), SIGTERM);
  BOOST_REQUIRE_EQUAL(recorder.wait(), 0);
  const std::string err = recorder.stderr_text();
  BOOST_TEST_MESSAGE("record stderr:\n" << err);
  BOOST_TEST(err.find(" stored, 0 lost") != std::string::npos);
  BOOST_TEST((our_instances() == before));
  Database db(db_path, Database::Mode::read_only);
  BOOST_TEST(scalar(db, "SELECT count(*) FROM kernel_trace WHERE ended_ns > started_ns AND events_lost = 0") == 1);
  const long lazy = field_of(done, "lazy");
  BOOST_TEST(scalar(db, "SELECT count(*) FROM kernel_events WHERE event = 'exceptions:page_fault_user' AND tid = " +
                            std::to_string(field_of(done, "lazy_tid")) + " AND json_extract(fields, '$.address') BETWEEN " +
                            std::to_string(lazy) + " AND " + std::to_string(lazy + (8 << 20) - 1)) == 4);
  BOOST_TEST(scalar(db, "SELECT count(*) FROM kernel_events WHERE pid IS NOT NULL AND pid != " +
                            std::to_string(field_of(done, "pid"))) == 0);
}

BOOST_AUTO_TEST_CASE(without_root_kernel_says_so_once_and_records_the_rest) {
  if (geteuid() != 0) {
    BOOST_TEST_MESSAGE("skipped: running as another user needs root");
    return;
  }
  // Copies everyone can run (the build tree may sit below a private directory).
  TempDir dir;
  fs::permissions(dir.path(), fs::perms::all);
  const std::pair<std::string, std::string> copies[] = {
      {bin_dir() + "/hugeshim", "hugeshim"}, {shim_path(), "libhugeshim.so"}, {bin_dir() + "/populate_probe", "populate_probe"}};
  for (const auto& [from, name] : copies) {
    const std::string to = dir.path() + "/" + name;
    fs::copy_file(from, to);
    fs::permissions(to, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read |
                            fs::perms::others_exec);
  }
  const std::set<std::string> before = our_instances();
  Env env;
  env["HUGESHIM_LIBRARY"] = dir.path() + "/libhugeshim.so";
  env["HUGESHIM_PAGES"] = kPoolFreeLadder;
  env["HUGESHIM_POPULATE"] = "eager";
  env["HOME"] = "/";
  env["LD_PRELOAD"] = "";
  RunResult r = run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", dir.path() + "/hugeshim", "run",
                     "--kernel", "--format", "none", "-o", dir.path() + "/n.db", "--", dir.path() + "/populate_probe",
                     "malloc", "8", "2"},
                    env);
  BOOST_TEST_MESSAGE("stderr:\n" << r.err);
  BOOST_REQUIRE_EQUAL(r.status, 0);
  size_t lines = 0;
  for (size_t at = 0; (at = r.err.find("--kernel", at)) != std::string::npos; ++at) ++lines;
  BOOST_TEST(lines == 1u);
  BOOST_TEST(r.err.find("hugeshim run: --kernel needs root (tracefs); recording without kernel events") != std::string::npos);
  BOOST_TEST(r.err.find("hugeshim run: 4 events from 1 process(es)") != std::string::npos);
  BOOST_TEST(r.err.find("kernel events:") == std::string::npos);
  BOOST_TEST((our_instances() == before));
  Database db(dir.path() + "/n.db", Database::Mode::read_only);
  BOOST_TEST(scalar(db, "SELECT count(*) FROM events") == 4);
  BOOST_TEST(scalar(db, "SELECT count(*) FROM sqlite_master WHERE name = 'kernel_trace'") == 0);
}
