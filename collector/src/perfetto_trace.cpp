#include "perfetto_trace.h"

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace hugeshim::collector {
namespace {

using nlohmann::json;

// Calls that give memory back: their bytes are not added to the
// "bytes mapped" counter.
const std::set<std::string> kReleaseApis = {"free",          "munmap",          "cudaFreeHost",
                                            "cuMemFreeHost", "cudaHostUnregister", "cuMemHostUnregister"};
// A program's own registrations: phase populate is the shim's preparation.
const std::set<std::string> kRegistrationApis = {"cudaHostRegister", "cuMemHostRegister"};

constexpr const char* kPageClasses[] = {"1G", "2M", "thp", "base"};

// Lanes of one thread beyond the first get a synthetic tid above every real
// one (Linux pids and tids stay below 2^22).
constexpr int64_t kLaneTidStride = int64_t{1} << 22;

struct Event {
  int64_t process_id, pid, tid, ring_pos;
  std::string api;
  int64_t start_ns, end_ns;
  int64_t phase_ns[4];
  int64_t page_bytes[4];
  json args;
};

struct Process {
  int64_t pid;
  std::string exe, cmdline;
  int64_t start_ns;
  int64_t end_ns;  // exit time, else the last event's end, else start
  int64_t dropped = 0;
};

// Microseconds since `origin`, to the nanosecond.
double micros(int64_t ns, int64_t origin) { return static_cast<double>(ns - origin) / 1000.0; }

std::string caller_text(const Statement& q, int module_col, int offset_col, int caller_col) {
  char buf[32];
  if (q.is_null(module_col)) {
    snprintf(buf, sizeof buf, "0x%" PRIx64, static_cast<uint64_t>(q.int64(caller_col)));
    return buf;
  }
  snprintf(buf, sizeof buf, "+0x%" PRIx64, static_cast<uint64_t>(q.int64(offset_col)));
  return q.text(module_col) + buf;
}

}  // namespace

json build_perfetto_trace(Database& db) {
  std::map<int64_t, Process> processes;  // by process id
  {
    Statement q = db.prepare(
        "SELECT id, pid, exe, cmdline, start_monotonic_ns, exit_monotonic_ns FROM processes ORDER BY id");
    while (q.step()) {
      const int64_t start = q.int64(4);
      const int64_t exit = q.is_null(5) ? 0 : q.int64(5);
      processes[q.int64(0)] = {q.int64(1), q.text(2), q.text(3), start, exit > start ? exit : start};
    }
  }
  {
    Statement q = db.prepare("SELECT process_id, sum(records_dropped) FROM counters GROUP BY process_id");
    while (q.step())
      if (auto p = processes.find(q.int64(0)); p != processes.end()) p->second.dropped = q.int64(1);
  }

  std::vector<Event> events;
  {
    Statement q = db.prepare(
        "SELECT process_id, tid, ring_pos, api, start_ns, end_ns, reserve_ns, populate_ns, lock_ns, register_ns, "
        "bytes_1g, bytes_2m, bytes_thp, bytes_base, requested, mapped, page_class, fallback, numa_asked, numa_got, "
        "result, err, flags, gpu, caller, caller_module, caller_offset FROM events "
        "WHERE start_ns IS NOT NULL AND end_ns IS NOT NULL");
    while (q.step()) {
      auto p = processes.find(q.int64(0));
      if (p == processes.end()) continue;  // an event without its process row (damaged file)
      Event e;
      e.process_id = q.int64(0);
      e.pid = p->second.pid;
      e.tid = q.int64(1);
      e.ring_pos = q.int64(2);
      e.api = q.text(3);
      e.start_ns = q.int64(4);
      e.end_ns = std::max(q.int64(5), e.start_ns);
      for (int i = 0; i < 4; ++i) e.phase_ns[i] = std::max<int64_t>(q.int64(6 + i), 0);
      for (int i = 0; i < 4; ++i) e.page_bytes[i] = q.int64(10 + i);
      e.args = {{"requested_bytes", q.int64(14)},
                {"mapped_bytes", q.int64(15)},
                {"page_class", q.text(16)},
                {"fallback", q.text(17)},
                {"numa_asked", q.int64(18)},
                {"numa_got", q.int64(19)},
                {"result", q.int64(20)},
                {"errno", q.int64(21)},
                {"flags", q.int64(22)},
                {"gpu", q.int64(23)},
                {"caller", caller_text(q, 25, 26, 24)},
                {"ring_pos", e.ring_pos}};
      for (int i = 0; i < 4; ++i) e.args[std::string("bytes_") + kPageClasses[i]] = e.page_bytes[i];
      p->second.end_ns = std::max(p->second.end_ns, e.end_ns);
      events.push_back(std::move(e));
    }
  }

  // Per thread track in time order, enclosing slices before enclosed ones.
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    return std::tie(a.pid, a.tid, a.start_ns, b.end_ns, a.process_id, a.ring_pos) <
           std::tie(b.pid, b.tid, b.start_ns, a.end_ns, b.process_id, b.ring_pos);
  });

  int64_t origin = INT64_MAX;
  for (const auto& [id, p] : processes) origin = std::min(origin, p.start_ns);
  for (const Event& e : events) origin = std::min(origin, e.start_ns);
  if (origin == INT64_MAX) origin = 0;

  json trace = json::array();
  // Names: one process track per pid (an exec keeps the pid: its images
  // share the track, named in order), one thread track per tid.
  std::map<int64_t, std::string> process_names;
  std::map<int64_t, std::string> process_cmdlines;
  for (const auto& [id, p] : processes) {
    std::string& name = process_names[p.pid];
    name += (name.empty() ? "" : " -> ") + p.exe;
    process_cmdlines[p.pid] = p.cmdline;
  }
  for (const auto& [pid, name] : process_names) {
    trace.push_back({{"ph", "M"}, {"name", "process_name"}, {"pid", pid}, {"tid", 0}, {"args", {{"name", name}}}});
    trace.push_back({{"ph", "M"}, {"name", "process_labels"}, {"pid", pid}, {"tid", 0},
                     {"args", {{"labels", process_cmdlines[pid].substr(0, 200)}}}});
  }

  // Thread lanes: ends of the slices open on each lane, innermost last.
  std::map<std::pair<int64_t, int64_t>, std::vector<std::vector<int64_t>>> lanes;  // (pid, tid) -> lanes
  std::set<std::tuple<int64_t, int64_t, int64_t>> named_threads;                    // (pid, lane tid, lane)
  std::map<int64_t, std::array<int64_t, 4>> mapped_so_far;                          // by process id

  for (const Event& e : events) {
    auto& thread_lanes = lanes[{e.pid, e.tid}];
    size_t lane = 0;
    for (;; ++lane) {
      if (lane == thread_lanes.size()) thread_lanes.emplace_back();
      std::vector<int64_t>& open = thread_lanes[lane];
      while (!open.empty() && open.back() <= e.start_ns) open.pop_back();
      // Fits when nothing is open or it lies inside the innermost open slice.
      if (open.empty() || e.end_ns <= open.back()) {
        open.push_back(e.end_ns);
        break;
      }
    }
    const int64_t tid = e.tid + static_cast<int64_t>(lane) * kLaneTidStride;
    if (named_threads.insert({e.pid, tid, static_cast<int64_t>(lane)}).second) {
      std::string name = e.tid == e.pid ? "main thread " + std::to_string(e.tid) : "thread " + std::to_string(e.tid);
      if (lane) name += " (overlap " + std::to_string(lane) + ")";
      trace.push_back({{"ph", "M"}, {"name", "thread_name"}, {"pid", e.pid}, {"tid", tid}, {"args", {{"name", name}}}});
    }
    const bool registration = kRegistrationApis.count(e.api) > 0;
    trace.push_back({{"ph", "X"},
                     {"cat", registration ? "registration" : kReleaseApis.count(e.api) ? "release" : "allocation"},
                     {"name", e.api},
                     {"pid", e.pid},
                     {"tid", tid},
                     {"ts", micros(e.start_ns, origin)},
                     {"dur", micros(e.end_ns, e.start_ns)},
                     {"args", e.args}});
    static constexpr const char* kPhases[] = {"reserve", "populate", "lock", "register"};
    int64_t at = e.start_ns;
    for (int phase = 0; phase < 4; ++phase) {
      if (e.phase_ns[phase] <= 0 || at >= e.end_ns) continue;
      const int64_t end = std::min(e.end_ns, at + e.phase_ns[phase]);
      const char* name = registration && phase == 1 ? "prepare" : kPhases[phase];
      trace.push_back({{"ph", "X"},
                       {"cat", "phase"},
                       {"name", name},
                       {"pid", e.pid},
                       {"tid", tid},
                       {"ts", micros(at, origin)},
                       {"dur", micros(end, at)},
                       {"args", {{"recorded_ns", e.phase_ns[phase]}}}});
      at = end;
    }
    if (!kReleaseApis.count(e.api)) {
      auto& sums = mapped_so_far[e.process_id];
      json series = json::object();
      for (int c = 0; c < 4; ++c) series[kPageClasses[c]] = sums[c] += e.page_bytes[c];
      trace.push_back({{"ph", "C"}, {"name", "bytes mapped by large events"}, {"pid", e.pid}, {"tid", 0},
                       {"ts", micros(e.end_ns, origin)}, {"args", series}});
    }
  }

  for (const auto& [id, p] : processes) {
    trace.push_back({{"ph", "C"}, {"name", "records dropped"}, {"pid", p.pid}, {"tid", 0},
                     {"ts", micros(p.start_ns, origin)}, {"args", {{"dropped", 0}}}});
    trace.push_back({{"ph", "C"}, {"name", "records dropped"}, {"pid", p.pid}, {"tid", 0},
                     {"ts", micros(p.end_ns, origin)}, {"args", {{"dropped", p.dropped}}}});
  }

  return {{"traceEvents", trace},
          {"displayTimeUnit", "ns"},
          {"otherData", {{"source", "hugeshim export --format perfetto"},
                         {"origin_monotonic_ns", origin},
                         {"clock", "CLOCK_MONOTONIC, rebased to the earliest process start or event"}}}};
}

}  // namespace hugeshim::collector
