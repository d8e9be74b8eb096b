// A THP populate on a host whose free memory holds no free 2 MiB block:
// `hugeshim run --kernel` stores the direct compaction it entered, on the
// thread of the shim's malloc and inside that malloc's time window.
//
// Bounded fragmentation: every free block of order 9 or more is taken into
// the hugetlb pool (a pool of free pages, taken in well under a second and
// given back at the end, RAII), so the free memory left is the host's own
// smaller pieces (GiBs on a host that has run a while; checked below) and a
// THP fault must compact. vm.extfrag_threshold is set to 0 meanwhile (and
// put back): at its default the kernel may judge that little free memory
// means "reclaim, do not compact", depending on how the free pieces are
// spread. (tools/fragment/fragment-memory builds the same state from
// scratch at ~9 s per GiB, too slow for a test.) Needs root and THP;
// RUN_SERIAL: no other test gets a huge page meanwhile.
#define BOOST_TEST_MODULE kernel_fragmented
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "process.h"
#include "sqlite_db.h"
#include "temp_dir.h"
#include "thp_mode.h"

using namespace hugeshim_test;
using hugeshim::collector::Database;

namespace {

// Free 2 MiB blocks in /proc/buddyinfo (an order-10 block counts twice)
// and free bytes in smaller pieces; zone DMA left out (neither THP nor the
// pool takes its pages).
struct BuddyFree {
  long blocks_2m = 0;
  long long small_bytes = 0;
};
BuddyFree buddy_free() {
  std::ifstream in("/proc/buddyinfo");
  BuddyFree f;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream s(line.substr(line.find("zone") + 4));
    std::string zone;
    s >> zone;
    if (zone == "DMA") continue;
    long count;
    for (int order = 0; s >> count; ++order) {
      if (order >= 9) f.blocks_2m += count << (order - 9);
      else f.small_bytes += static_cast<long long>(count) * (4096ll << order);
    }
  }
  return f;
}

// A sysctl set for the lifetime of the object, the old value put back.
class Sysctl {
 public:
  Sysctl(const std::string& path, const std::string& value) : path_(path), previous_(read_file(path)) {
    std::ofstream(path_) << value;
  }
  ~Sysctl() { std::ofstream(path_) << previous_; }

 private:
  std::string path_, previous_;
};

// nr_hugepages raised to take every free 2 MiB block, restored at the end.
class PoolTakesFreeBlocks {
 public:
  // A few rounds: blocks freed by others meanwhile are taken too.
  PoolTakesFreeBlocks() : previous_(meminfo("HugePages_Total")) {
    for (int round = 0; round < 5 && buddy_free().blocks_2m > 0; ++round)
      set(meminfo("HugePages_Total") + buddy_free().blocks_2m);
  }
  ~PoolTakesFreeBlocks() { set(previous_); }

 private:
  static void set(long pages) { std::ofstream("/proc/sys/vm/nr_hugepages") << pages; }
  long previous_;
};

int64_t scalar(Database& db, const std::string& sql) {
  auto q = db.prepare(sql);
  BOOST_REQUIRE(q.step());
  return q.int64(0);
}

}  // namespace

BOOST_AUTO_TEST_CASE(compaction_is_stored_for_the_populating_thread) {
  if (geteuid() != 0) {
    BOOST_TEST_MESSAGE("skipped: --kernel and the hugetlb pool need root");
    return;
  }
  if (!thp_enabled()) {
    BOOST_TEST_MESSAGE("skipped: THP is '" << thp_mode() << "' here");
    return;
  }
  if (buddy_free().small_bytes < (1ll << 30)) {
    BOOST_TEST_MESSAGE("skipped: less than 1 GiB free in pieces below 2 MiB; taking the free blocks would starve the host");
    return;
  }
  TempDir dir;
  Env env;
  env["HUGESHIM_PAGES"] = "thp";
  env["HUGESHIM_POPULATE"] = "eager";
  env["HUGESHIM_PREFAULT_THREADS"] = "1";
  env["HUGESHIM_CACHE"] = "0";
  env["HUGESHIM_MIN_SIZE"] = "4MiB";
  // Memory another program frees just after the pool took the free blocks
  // (a test that ended a moment ago) can serve the populate without any
  // compaction: then the recording has nothing to attribute, and the
  // fragmenting step is tried again, up to three times.
  std::string db_path;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    db_path = dir.path() + "/f" + std::to_string(attempt) + ".db";
    RunResult r;
    {
      Sysctl compact_when_fragmented("/proc/sys/vm/extfrag_threshold", "0");
      PoolTakesFreeBlocks fragmented;
      // A few dozen free blocks stay out of the pool's reach (the zones'
      // watermark reserve) and a THP fault may still take some of them, so
      // the malloc asks for 256 MiB (128 huge pages): more than that
      // reserve, so part of it must compact.
      BOOST_TEST_MESSAGE("attempt " << attempt << ": free 2 MiB blocks left (watermark reserve): "
                                    << buddy_free().blocks_2m);
      r = run({bin_dir() + "/hugeshim", "run", "--kernel", "--format", "none", "-o", db_path, "--",
               bin_dir() + "/populate_probe", "malloc", "256", "1"},
              env);
    }
    BOOST_TEST_MESSAGE("stderr:\n" << r.err << "stdout:\n" << r.out);
    BOOST_REQUIRE_EQUAL(r.status, 0);
    if (r.err.find("recording without kernel events") != std::string::npos) {
      BOOST_TEST_MESSAGE("skipped: no tracefs here");
      return;
    }
    Database probe(db_path, Database::Mode::read_only);
    if (scalar(probe, "SELECT count(*) FROM kernel_events WHERE event = 'compaction:mm_compaction_try_to_compact_pages'") > 0)
      break;
    BOOST_TEST_MESSAGE("attempt " << attempt << ": the populate did not compact");
  }
  Database db(db_path, Database::Mode::read_only);
  BOOST_TEST(scalar(db, "SELECT events_lost FROM kernel_trace") == 0);
  BOOST_TEST_MESSAGE("kernel events: " << scalar(db, "SELECT count(*) FROM kernel_events"));
  // The malloc's window on its thread holds the compaction.
  const std::string in_malloc =
      "FROM kernel_events k JOIN events e ON k.tid = e.tid AND k.ts_ns BETWEEN e.start_ns AND e.end_ns "
      "WHERE e.api = 'malloc' AND e.requested = 268435456 AND ";
  BOOST_TEST(scalar(db, "SELECT count(*) " + in_malloc + "k.event = 'compaction:mm_compaction_try_to_compact_pages'") >= 1);
  BOOST_TEST(scalar(db, "SELECT count(*) " + in_malloc + "k.event = 'compaction:mm_compaction_begin'") >= 1);
  BOOST_TEST(scalar(db, "SELECT count(*) " + in_malloc + "k.event = 'compaction:mm_compaction_end'") >= 1);
  // run --kernel attributed the compaction to that malloc, and to no other event.
  const std::string malloc_summary =
      "FROM kernel_summaries s JOIN events e ON e.process_id = s.process_id AND e.ring_pos = s.ring_pos "
      "WHERE e.api = 'malloc' AND e.requested = 268435456";
  BOOST_TEST(scalar(db, "SELECT count(*) " + malloc_summary + " AND s.compaction_runs >= 1") == 1);
  BOOST_TEST(scalar(db, "SELECT sum(s.compaction_ns) " + malloc_summary) > 0);
  BOOST_TEST(scalar(db, "SELECT count(*) FROM kernel_summaries s JOIN events e ON e.process_id = s.process_id AND "
                        "e.ring_pos = s.ring_pos WHERE s.compaction_runs > 0 AND NOT (e.api = 'malloc' AND "
                        "e.requested = 268435456)") == 0);
  // And the report says so in words.
  RunResult report = run({bin_dir() + "/hugeshim", "report", db_path});
  BOOST_TEST_MESSAGE("report:\n" << report.out);
  BOOST_TEST(report.status == 0);
  BOOST_TEST(report.out.find("in direct compaction") != std::string::npos);
}
