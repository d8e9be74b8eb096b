// The telemetry ring's use of its file system (issue "Reliability", items 1
// and 2, and the exit states): a full ring file system costs telemetry,
// never a signal; segments cost memory only for what they record and do not
// pile up without a collector; an image's end is recorded as what it was.
#define BOOST_TEST_MODULE ring_space
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>

#include "process.h"

using namespace hugeshim_test;
namespace fs = std::filesystem;

namespace {

// A private tmpfs of `size` bytes, mounted for one test (root only).
class Tmpfs {
 public:
  explicit Tmpfs(const std::string& size) {
    char templ[] = "/tmp/hugeshim-ringfs-XXXXXX";
    dir_ = mkdtemp(templ);
    mounted_ = mount("tmpfs", dir_.c_str(), "tmpfs", 0, ("size=" + size + ",mode=0700").c_str()) == 0;
    BOOST_REQUIRE_MESSAGE(mounted_, "mounting a tmpfs needs root: " << strerror(errno));
  }
  ~Tmpfs() {
    if (mounted_) umount2(dir_.c_str(), MNT_DETACH);
    rmdir(dir_.c_str());
  }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  uint64_t used_bytes() const {
    struct statvfs s;
    statvfs(dir_.c_str(), &s);
    return (s.f_blocks - s.f_bfree) * s.f_frsize;
  }
  // Fills the file system with one file until `leave` bytes are free.
  void fill_leaving(uint64_t leave) const {
    struct statvfs s;
    BOOST_REQUIRE_EQUAL(statvfs(dir_.c_str(), &s), 0);
    const uint64_t free_bytes = s.f_bavail * s.f_frsize;
    int fd = open(path("filler").c_str(), O_RDWR | O_CREAT, 0600);
    BOOST_REQUIRE_GE(fd, 0);
    if (free_bytes > leave) BOOST_REQUIRE_EQUAL(fallocate(fd, 0, 0, static_cast<off_t>(free_bytes - leave)), 0);
    close(fd);
  }

 private:
  std::string dir_;
  bool mounted_ = false;
};

size_t segment_files(const std::string& dir) {
  size_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".hsr") ++n;
  return n;
}

Env ring_env(const std::string& ring_dir) {
  return with_shim({{"HUGESHIM_PAGES", "thp"}, {"HUGESHIM_MIN_SIZE", "4MiB"}, {"HUGESHIM_RING", "on"},
                    {"HUGESHIM_RING_DIR", ring_dir}});
}

std::string probe() { return bin_dir() + "/reliability_probe"; }
std::string hugeshim() { return bin_dir() + "/hugeshim"; }

std::string sql(const std::string& db, const std::string& query) {
  RunResult r = run({"sqlite3", db, query});
  BOOST_REQUIRE_MESSAGE(r.status == 0, r.err);
  return r.out;
}

}  // namespace

// Item 1: the ring file system is full when the program starts. Before: the
// first large malloc died of SIGBUS. Now: one line, no telemetry, exit 0.
BOOST_AUTO_TEST_CASE(full_ring_file_system_means_no_telemetry_not_a_signal) {
  Tmpfs tmpfs("1m");
  BOOST_REQUIRE_EQUAL(mkdir(tmpfs.path("rings").c_str(), 0700), 0);
  tmpfs.fill_leaving(0);
  RunResult r = run({probe(), "large-mallocs", "10"}, ring_env(tmpfs.path("rings")));
  BOOST_CHECK_EQUAL(r.status, 0);
  BOOST_CHECK_EQUAL(r.out, "ok events 20\n");
  BOOST_CHECK_NE(r.err.find("telemetry off"), std::string::npos);
  BOOST_CHECK_EQUAL(std::count(r.err.begin(), r.err.end(), '\n'), 1);
  BOOST_CHECK_EQUAL(segment_files(tmpfs.path("rings")), 0u);
}

// Item 1, the file system filling up while the program runs: the header
// and the first slot pages fit, later ones do not. The records that did not
// fit are counted as dropped; the program never sees a signal.
BOOST_AUTO_TEST_CASE(ring_file_system_filling_up_drops_records_not_the_program) {
  Tmpfs tmpfs("1m");
  BOOST_REQUIRE_EQUAL(mkdir(tmpfs.path("rings").c_str(), 0700), 0);
  tmpfs.fill_leaving(160 * 1024);
  RunResult r = run({probe(), "large-mallocs", "2000"}, ring_env(tmpfs.path("rings")));
  BOOST_CHECK_EQUAL(r.status, 0);
  BOOST_CHECK_EQUAL(r.out, "ok events 4000\n");
  BOOST_REQUIRE_EQUAL(segment_files(tmpfs.path("rings")), 1u);  // it recorded: kept for a collector
  run({hugeshim(), "record", "--dir", tmpfs.path("rings"), "-o", "/tmp/hugeshim-ringfs-drain.db", "--duration", "1"});
  std::string counts = sql("/tmp/hugeshim-ringfs-drain.db",
                           "SELECT sum(events), sum(records_written), sum(records_dropped) FROM counters");
  unlink("/tmp/hugeshim-ringfs-drain.db");
  long events = 0, written = 0, dropped = 0;
  BOOST_REQUIRE_EQUAL(std::sscanf(counts.c_str(), "%ld|%ld|%ld", &events, &written, &dropped), 3);
  BOOST_CHECK_EQUAL(events, 4000);
  BOOST_CHECK_GT(written, 0);
  BOOST_CHECK_GT(dropped, 0);
  BOOST_CHECK_EQUAL(written + dropped, 4000);
}

// Item 2: 200 short processes (a shell's fork children, each exec'ing
// /bin/true) without a collector, on a 64 MiB ring file system (a
// container's /dev/shm). Before: 3 MiB per process image, and the 22nd died
// of SIGBUS. Now: nothing recorded, nothing left.
BOOST_AUTO_TEST_CASE(short_processes_without_a_collector_leave_almost_nothing) {
  Tmpfs tmpfs("64m");
  RunResult r = run({"sh", "-c", "for i in $(seq 200); do /bin/true || exit 1; done; echo done"},
                    ring_env(tmpfs.path("rings")));
  BOOST_CHECK_EQUAL(r.status, 0);
  BOOST_CHECK_EQUAL(r.out, "done\n");
  BOOST_TEST_MESSAGE("left behind: " << segment_files(tmpfs.path("rings")) << " segments, "
                                     << tmpfs.used_bytes() << " bytes");
  BOOST_CHECK_EQUAL(segment_files(tmpfs.path("rings")), 0u);
  BOOST_CHECK_LE(tmpfs.used_bytes(), 1u << 20);
}

// A segment costs memory for the records written, not for its capacity: a
// process with 20 events in a 16384-slot (3 MiB) ring holds well under
// 200 KiB of the file system.
BOOST_AUTO_TEST_CASE(a_segment_costs_memory_for_its_records_only) {
  Tmpfs tmpfs("64m");
  RunResult r = run({probe(), "large-mallocs", "10"}, ring_env(tmpfs.path("rings")));
  BOOST_CHECK_EQUAL(r.status, 0);
  BOOST_REQUIRE_EQUAL(segment_files(tmpfs.path("rings")), 1u);
  BOOST_TEST_MESSAGE("ring file system used: " << tmpfs.used_bytes() << " bytes");
  BOOST_CHECK_LE(tmpfs.used_bytes(), 200u * 1024);
}

// Segments of dead processes that nobody needs are removed by any collector
// command; one with undrained records is kept for a later report.
BOOST_AUTO_TEST_CASE(collector_commands_reap_finished_segments_and_keep_the_rest) {
  Tmpfs tmpfs("64m");
  const std::string rings = tmpfs.path("rings");
  // A process killed before recording anything (no exit path ran), and a
  // shell killed after its child recorded: two dead segments with nothing
  // in them, and the child's, whose records wait for a collector.
  run({"sh", "-c", probe() + " sleep 5 & pid=$!; sleep 0.5; kill -9 $pid; wait $pid"}, ring_env(rings));
  run({"sh", "-c", probe() + " large-mallocs 3 && kill -9 $$"}, ring_env(rings));
  BOOST_REQUIRE_EQUAL(segment_files(rings), 3u);
  Env env{{"HUGESHIM_RING_DIR", rings}};
  BOOST_CHECK_EQUAL(run({hugeshim(), "config"}, env).status, 0);
  BOOST_CHECK_EQUAL(segment_files(rings), 1u);  // the one holding records stays
}

// An image replaced by exec, and a process leaving by _exit, are stored as
// such (before: both "killed").
BOOST_AUTO_TEST_CASE(exec_and__exit_are_recorded_as_what_they_were) {
  Tmpfs tmpfs("64m");
  for (const std::string how : {"exec", "_exit"}) {
    BOOST_TEST_CONTEXT(how) {
      const std::string db = tmpfs.path(how + ".db");
      RunResult r = run({hugeshim(), "run", "-o", db, "--", probe(), "record-then", how},
                        {{"HUGESHIM_PAGES", "thp"}, {"HUGESHIM_MIN_SIZE", "4MiB"}});
      BOOST_CHECK_EQUAL(r.status, 0);
      std::string state = sql(db, "SELECT state FROM processes WHERE exe LIKE '%reliability_probe'");
      BOOST_CHECK_EQUAL(state, how == "exec" ? "execed\n" : "exited\n");
    }
  }
}
