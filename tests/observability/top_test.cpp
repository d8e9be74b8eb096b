// `hugeshim top` against real programs under the shim, writing rings into a
// private directory: --once (rows, exact counters, rates, sorting), reading
// rings that a `hugeshim record` drains at the same time, taking nothing
// from them, the interactive view in tmux (keys re-sort, q quits), and bad
// input.
#define BOOST_TEST_MODULE top
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <sstream>
#include <sys/stat.h>
#include <thread>

#include "process.h"
#include "ring_dir.h"
#include "timeline_workload.h"

using namespace hugeshim_test;
using hugeshim_timeline_test::kHugeshim;
using hugeshim_timeline_test::Output;
using hugeshim_timeline_test::shell;
using hugeshim_timeline_test::TempDir;

namespace {

const std::string kAllocator = std::string(HUGESHIM_SOURCE_DIR) + "/tests/observability/top_allocator.py";

struct Row {
  int pid = 0;
  std::string state, rate;
  uint64_t allocations = 0;
  std::string fallbacks, drops, exe;
};

// The rows of a frame, in order (lines after the column line).
std::vector<Row> rows_of(const std::string& frame) {
  std::vector<Row> rows;
  std::istringstream in(frame);
  std::string line;
  std::getline(in, line);  // title
  std::getline(in, line);  // columns
  BOOST_REQUIRE(line.find("ALLOC/S") != std::string::npos);
  while (std::getline(in, line)) {
    std::istringstream f(line);
    Row r;
    std::string b1g, b2m, thp, base, populate, reg;
    if (f >> r.pid >> r.state >> r.rate >> r.allocations >> b1g >> b2m >> thp >> base >> populate >> reg >>
        r.fallbacks >> r.drops >> r.exe)
      rows.push_back(r);
  }
  return rows;
}

const Row* row_of(const std::vector<Row>& rows, int pid) {
  for (const Row& r : rows)
    if (r.pid == pid) return &r;
  return nullptr;
}

Output top_once(const RingDir& ring, const std::string& args = "") {
  return shell(kHugeshim + " top --once --dir " + ring.path() + " --interval 0.5 " + args);
}

}  // namespace

BOOST_AUTO_TEST_CASE(once_shows_exact_counters_rates_and_sorts_without_consuming) {
  RingDir ring;
  Child busy({"/usr/bin/python3", kAllocator}, with_shim(ring.recording()));
  Child idle({"/usr/bin/python3", kAllocator}, with_shim(ring.recording()));
  BOOST_REQUIRE_EQUAL(idle.ask("alloc 5"), "ok");
  BOOST_REQUIRE_EQUAL(busy.ask("alloc 20"), "ok");
  BOOST_REQUIRE_EQUAL(busy.ask("start"), "ok");

  const Output by_events = top_once(ring, "--sort events");
  BOOST_TEST_MESSAGE(by_events.out);
  BOOST_REQUIRE_EQUAL(by_events.status, 0);
  const std::vector<Row> rows = rows_of(by_events.out);
  const Row* b = row_of(rows, busy.pid());
  const Row* i = row_of(rows, idle.pid());
  BOOST_REQUIRE(b && i);
  BOOST_CHECK_EQUAL(i->allocations, 5u);  // the header's exact count
  BOOST_CHECK_EQUAL(i->rate, "0.0");
  BOOST_CHECK_EQUAL(i->state, "running");
  BOOST_CHECK_GT(std::stod(b->rate), 0.0);  // allocating through the whole interval
  BOOST_CHECK_GE(b->allocations, 20u);
  BOOST_CHECK_LT(b - rows.data(), i - rows.data());  // more events first
  BOOST_CHECK(by_events.out.find("sort: events") != std::string::npos);

  const std::vector<Row> by_pid = rows_of(top_once(ring, "--sort pid").out);
  BOOST_REQUIRE_GE(by_pid.size(), 2u);
  for (size_t k = 1; k < by_pid.size(); ++k) BOOST_CHECK_LT(by_pid[k - 1].pid, by_pid[k].pid);

  BOOST_REQUIRE_EQUAL(busy.ask("stop"), "ok");
  BOOST_CHECK_EQUAL(busy.wait(), 0);
  BOOST_CHECK_EQUAL(idle.wait(), 0);
  // top took nothing: every record is still in the rings (5 allocations and
  // 5 frees of the idle program, all of the busy one's).
  const RingContents left = ring.drain();
  uint64_t counted = 0;
  for (const auto& c : left.counters) counted += c.events;
  BOOST_CHECK_EQUAL(left.records.size(), counted);
  BOOST_CHECK_GE(left.records.size(), 10u + 40u);
}

BOOST_AUTO_TEST_CASE(reads_rings_that_a_recorder_drains) {
  RingDir ring;
  TempDir dir;
  Child program({"/usr/bin/python3", kAllocator}, with_shim(ring.recording()));
  BOOST_REQUIRE_EQUAL(program.ask("alloc 7"), "ok");
  const std::string db = dir.file("r.db");
  // The recorder holds each segment's consumer lock while it runs.
  std::thread recorder([&] { shell(kHugeshim + " record --dir " + ring.path() + " -o " + db + " --duration 3 2>/dev/null"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  const Output out = top_once(ring);
  BOOST_TEST_MESSAGE(out.out);
  BOOST_CHECK_EQUAL(out.status, 0);
  const std::vector<Row> rows = rows_of(out.out);
  const Row* r = row_of(rows, program.pid());
  BOOST_REQUIRE(r);
  BOOST_CHECK_EQUAL(r->allocations, 7u);
  BOOST_CHECK_EQUAL(program.wait(), 0);
  recorder.join();
  const Output stored = shell("sqlite3 " + db + " 'SELECT count(*) FROM events'");
  BOOST_CHECK_EQUAL(stored.out, "14\n");  // the recorder got every record
}

BOOST_AUTO_TEST_CASE(interactive_view_in_tmux_sorts_on_keys_and_quits_on_q) {
  RingDir ring;
  Child program({"/usr/bin/python3", kAllocator}, with_shim(ring.recording()));
  BOOST_REQUIRE_EQUAL(program.ask("alloc 3"), "ok");
  const std::string tmux = "tmux -L hugeshim-top-test-" + std::to_string(getpid());
  // The pane's shell writes top's exit status to a file: tmux's own
  // #{pane_dead_status} is sometimes empty for a pane that has exited.
  TempDir dir;
  const std::string status_file = dir.path() + "/status";
  BOOST_REQUIRE_EQUAL(shell(tmux + " -f /dev/null new-session -d -s top -x 180 -y 30 '" + kHugeshim + " top --dir " +
                            ring.path() + " --interval 0.3; echo $? > " + status_file + "'").status, 0);
  BOOST_REQUIRE_EQUAL(shell(tmux + " set-option -t top remain-on-exit on").status, 0);
  auto wait_for = [&](const std::string& what) {
    std::string screen;
    for (int tries = 0; tries < 50; ++tries) {
      screen = shell(tmux + " capture-pane -p -t top").out;
      if (screen.find(what) != std::string::npos) return screen;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    BOOST_ERROR("the pane never showed '" << what << "':\n" << screen);
    return screen;
  };
  const std::string first = wait_for("sort: rate");
  const Row* r = nullptr;
  std::vector<Row> rows;
  for (int tries = 0; tries < 30 && !r; ++tries) {
    rows = rows_of(shell(tmux + " capture-pane -p -t top").out);
    r = row_of(rows, program.pid());
    if (!r) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  BOOST_REQUIRE_MESSAGE(r, "no row for the program:\n" << first);
  BOOST_CHECK_EQUAL(r->allocations, 3u);
  shell(tmux + " send-keys -t top e");
  wait_for("sort: events");
  shell(tmux + " send-keys -t top q");
  std::string status;
  for (int tries = 0; tries < 50 && status.empty(); ++tries) {
    status = shell("cat " + status_file + " 2>/dev/null").out;
    if (status.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  BOOST_CHECK_EQUAL(status, "0\n");  // q ended it, with status 0
  shell(tmux + " kill-server");
  BOOST_CHECK_EQUAL(program.wait(), 0);
}

BOOST_AUTO_TEST_CASE(bad_input_is_one_line_and_a_failure) {
  TempDir dir;
  auto check_one_line = [](const Output& out, const std::string& says) {
    BOOST_TEST_MESSAGE(out.out);
    BOOST_CHECK_NE(out.status, 0);
    BOOST_CHECK_EQUAL(std::count(out.out.begin(), out.out.end(), '\n'), 1);
    BOOST_CHECK_MESSAGE(out.out.find(says) != std::string::npos, "expected '" << says << "' in: " << out.out);
  };
  check_one_line(shell(kHugeshim + " top --once --dir " + dir.file("absent") + " 2>&1"),
                 "cannot open ring directory " + dir.file("absent") + ": No such file or directory");
  std::ofstream(dir.file("plain")) << "x";
  check_one_line(shell(kHugeshim + " top --once --dir " + dir.file("plain") + " 2>&1"), "Not a directory");
  // Unreadable: root reads any directory, so root asks as nobody.
  const std::string locked = dir.file("locked");
  BOOST_REQUIRE_EQUAL(mkdir(locked.c_str(), 0700), 0);
  chmod(dir.path().c_str(), 0755);
  const std::string as_other = geteuid() == 0 ? "setpriv --reuid=65534 --regid=65534 --clear-groups " : "";
  if (geteuid() != 0) chmod(locked.c_str(), 0);
  // Nobody may not be able to run the build's hugeshim at all (a build tree
  // below a directory only root enters): then this case cannot be asked.
  if (shell(as_other + kHugeshim + " --version >/dev/null 2>&1").status != 0)
    BOOST_TEST_MESSAGE("unreadable directory not checked: nobody may not run " << kHugeshim);
  else
    check_one_line(shell(as_other + kHugeshim + " top --once --dir " + locked + " 2>&1"),
                   "ring directory " + locked + ": Permission denied");
  check_one_line(shell(kHugeshim + " top --once --dir " + dir.path() + " --sort colour 2>&1"), "unknown sort key 'colour'");
  check_one_line(shell(kHugeshim + " top --dir " + dir.path() + " </dev/null 2>&1"), "needs a terminal");
}
