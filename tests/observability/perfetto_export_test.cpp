// `hugeshim export --format perfetto` on a real recording: two processes,
// four threads each, under the real shim. The trace is checked as the
// Perfetto UI and chrome://tracing read it: valid JSON, every event named
// and on a process/thread, slices nesting per thread, times in
// microseconds (each slice against its row in the recording), names for
// every process and thread, counter tracks. Then bad input.
#define BOOST_TEST_MODULE perfetto_export
#include <boost/test/unit_test.hpp>

#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <vector>

#include "sqlite_db.h"
#include "timeline_workload.h"

using namespace hugeshim_timeline_test;
using nlohmann::json;

namespace {

struct Slice {
  double ts, dur;
  std::string name;
};

}  // namespace

BOOST_AUTO_TEST_CASE(trace_of_a_multi_process_multi_thread_recording) {
  TempDir dir;
  const std::string db_path = record_workload(dir);
  const std::string trace_path = dir.file("trace.json");
  BOOST_REQUIRE_EQUAL(shell(kHugeshim + " export --format perfetto -o " + trace_path + " " + db_path).status, 0);
  const std::string text = slurp(trace_path);
  const json trace = json::parse(text);  // throws (fails the test) when not JSON
  BOOST_REQUIRE(trace.contains("traceEvents"));
  BOOST_REQUIRE(trace["traceEvents"].is_array());
  // Perfetto's JSON importer wants plain decimals.
  BOOST_CHECK(!std::regex_search(text, std::regex(R"re("(ts|dur)":-?[0-9.]+[eE])re")));

  hugeshim::collector::Database db(db_path, hugeshim::collector::Database::Mode::read_only);
  // The rebasing origin is the earliest process start or event.
  int64_t origin = INT64_MAX;
  {
    hugeshim::collector::Statement q = db.prepare(
        "SELECT min(v) FROM (SELECT min(start_monotonic_ns) AS v FROM processes UNION ALL SELECT min(start_ns) FROM events)");
    BOOST_REQUIRE(q.step());
    origin = q.int64(0);
  }
  std::map<std::pair<int64_t, int64_t>, std::pair<int64_t, int64_t>> recorded;  // (pid, ring_pos) -> (start, duration)
  std::set<int64_t> recorded_pids;
  {
    hugeshim::collector::Statement q = db.prepare(
        "SELECT p.pid, e.ring_pos, e.start_ns, e.duration_ns FROM events e JOIN processes p ON p.id = e.process_id");
    while (q.step()) {
      recorded[{q.int64(0), q.int64(1)}] = {q.int64(2), q.int64(3)};
      recorded_pids.insert(q.int64(0));
    }
  }
  BOOST_REQUIRE_GE(recorded_pids.size(), 2u);

  std::map<std::pair<int64_t, int64_t>, std::vector<Slice>> by_thread;
  std::set<int64_t> named_processes;
  std::set<std::pair<int64_t, int64_t>> named_threads;
  std::set<std::string> counters;
  std::set<std::string> phase_names;
  size_t event_slices = 0;
  for (const json& e : trace["traceEvents"]) {
    BOOST_REQUIRE(e.contains("ph") && e.contains("pid") && e.contains("tid") && e.contains("name"));
    BOOST_REQUIRE(e["name"].is_string());
    BOOST_CHECK(!e["name"].get<std::string>().empty());
    const std::string ph = e["ph"];
    const int64_t pid = e["pid"], tid = e["tid"];
    if (ph == "M") {
      BOOST_CHECK(!e["args"]["name"].is_null() || e["name"] == "process_labels");
      if (e["name"] == "process_name") named_processes.insert(pid);
      if (e["name"] == "thread_name") named_threads.insert({pid, tid});
    } else if (ph == "C") {
      BOOST_CHECK(e["ts"].is_number());
      BOOST_CHECK(e["args"].is_object() && !e["args"].empty());
      counters.insert(e["name"]);
    } else {
      BOOST_REQUIRE_EQUAL(ph, "X");
      const double ts = e["ts"], dur = e["dur"];
      BOOST_CHECK_GE(ts, 0.0);
      BOOST_CHECK_GE(dur, 0.0);
      by_thread[{pid, tid}].push_back({ts, dur, e["name"]});
      if (e["cat"] == "phase") {
        phase_names.insert(e["name"]);
        continue;
      }
      ++event_slices;
      // Microseconds: the recording's nanoseconds / 1000, rebased.
      auto row = recorded.find({pid, e["args"]["ring_pos"].get<int64_t>()});
      BOOST_REQUIRE(row != recorded.end());
      BOOST_CHECK_SMALL(ts - static_cast<double>(row->second.first - origin) / 1000.0, 0.0015);
      BOOST_CHECK_SMALL(dur - static_cast<double>(row->second.second) / 1000.0, 0.0015);
    }
  }
  BOOST_CHECK_EQUAL(event_slices, recorded.size());
  for (int64_t pid : recorded_pids) BOOST_CHECK(named_processes.count(pid));
  for (const auto& [thread, slices] : by_thread) BOOST_CHECK(named_threads.count(thread));
  // Four threads in each process (the main thread and three more).
  std::map<int64_t, size_t> threads_per_process;
  for (const auto& [thread, slices] : by_thread) ++threads_per_process[thread.first];
  for (int64_t pid : recorded_pids) BOOST_CHECK_GE(threads_per_process[pid], 4u);
  BOOST_CHECK(phase_names.count("reserve") && phase_names.count("populate") && phase_names.count("lock"));
  BOOST_CHECK(counters.count("records dropped"));
  BOOST_CHECK(counters.count("bytes mapped by large events"));

  // Nesting: on each thread, in start order (enclosing first), every slice
  // either starts at or after the end of each open one or ends inside the
  // innermost; each phase slice lies inside an allocation slice.
  size_t nested_phases = 0;
  for (auto& [thread, slices] : by_thread) {
    std::sort(slices.begin(), slices.end(), [](const Slice& a, const Slice& b) {
      return a.ts != b.ts ? a.ts < b.ts : a.dur > b.dur;
    });
    std::vector<Slice> open;
    for (const Slice& s : slices) {
      while (!open.empty() && open.back().ts + open.back().dur <= s.ts + 1e-9) open.pop_back();
      const bool is_phase = s.name == "reserve" || s.name == "populate" || s.name == "lock" || s.name == "register" ||
                            s.name == "prepare";
      if (!open.empty()) {
        BOOST_CHECK_MESSAGE(s.ts + s.dur <= open.back().ts + open.back().dur + 1e-9,
                            s.name << " at " << s.ts << " overlaps " << open.back().name << " at " << open.back().ts);
      }
      if (is_phase) {
        BOOST_CHECK_MESSAGE(!open.empty(), s.name << " at " << s.ts << " has no parent slice");
        nested_phases += !open.empty();
      }
      open.push_back(s);
    }
  }
  BOOST_CHECK_GT(nested_phases, 0u);
}

BOOST_AUTO_TEST_CASE(bad_input_is_one_line_and_a_failure) {
  TempDir dir;
  // Not SQLite at all.
  {
    std::ofstream(dir.file("notes.txt")) << "not a recording\n";
    const Output out = shell(kHugeshim + " export --format perfetto -o " + dir.file("t.json") + " " +
                             dir.file("notes.txt") + " 2>&1");
    BOOST_CHECK_EQUAL(out.status, 2);
    BOOST_CHECK_EQUAL(std::count(out.out.begin(), out.out.end(), '\n'), 1);
    BOOST_CHECK(out.out.find("not a hugeshim recording (not an SQLite database)") != std::string::npos);
    BOOST_CHECK(!std::filesystem::exists(dir.file("t.json")));
  }
  // Missing.
  {
    const Output out = shell(kHugeshim + " export --format perfetto -o " + dir.file("t.json") + " " +
                             dir.file("absent.db") + " 2>&1");
    BOOST_CHECK_NE(out.status, 0);
    BOOST_CHECK_EQUAL(std::count(out.out.begin(), out.out.end(), '\n'), 1);
    BOOST_CHECK(out.out.find("cannot read") != std::string::npos);
  }
  // An output directory that does not exist: nothing half-written anywhere.
  {
    const std::string db = dir.file("true.db");
    BOOST_REQUIRE_EQUAL(shell("HUGESHIM_PAGES=thp " + kHugeshim + " run --format none -o " + db + " -- /bin/true").status, 0);
    const Output out = shell(kHugeshim + " export --format perfetto -o /nonexistent/dir/t.json " + db + " 2>&1");
    BOOST_CHECK_NE(out.status, 0);
    BOOST_CHECK_EQUAL(std::count(out.out.begin(), out.out.end(), '\n'), 1);
  }
  // An unknown format.
  {
    const Output out = shell(kHugeshim + " export --format svg -o " + dir.file("t.json") + " 2>&1");
    BOOST_CHECK_NE(out.status, 0);
  }
}
