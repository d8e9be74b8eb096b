#include "perfetto_trace.h"

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "perfetto_kernel.h"
#include "perfetto_copies.h"

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
constexpr const char* kPhases[] = {"reserve", "populate", "lock", "register"};

// Lanes of one thread beyond the first get a synthetic tid above every real
// one (Linux pids and tids stay below 2^22).
constexpr int64_t kLaneTidStride = int64_t{1} << 22;

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

// The "traceEvents" array, written element by element.
class EventWriter {
 public:
  explicit EventWriter(std::ostream& out) : out_(out) {}
  void add(const json& event) {
    out_ << (first_ ? "\n" : ",\n") << event.dump(-1, ' ', false, json::error_handler_t::replace);
    first_ = false;
  }

 private:
  std::ostream& out_;
  bool first_ = true;
};

struct Process {
  int64_t pid;
  std::string exe, cmdline;
  int64_t start_ns;
  int64_t end_ns;  // exit time, else the last event's end, else start
  int64_t dropped = 0;
};

std::map<int64_t, Process> read_processes(Database& db) {
  std::map<int64_t, Process> processes;  // by process id
  Statement q = db.prepare(
      "SELECT p.id, p.pid, p.exe, p.cmdline, p.start_monotonic_ns, p.exit_monotonic_ns, "
      "(SELECT max(end_ns) FROM events e WHERE e.process_id = p.id), "
      "(SELECT sum(records_dropped) FROM counters c WHERE c.process_id = p.id) FROM processes p ORDER BY p.id");
  while (q.step()) {
    const int64_t start = q.int64(4);
    const int64_t end = std::max({start, q.is_null(5) ? 0 : q.int64(5), q.is_null(6) ? 0 : q.int64(6)});
    processes[q.int64(0)] = {q.int64(1), q.text(2), q.text(3), start, end, q.int64(7)};
  }
  return processes;
}

void write_names(const std::map<int64_t, Process>& processes, EventWriter& events) {
  // One process track per pid (an exec keeps the pid: its images share the
  // track, named in order).
  std::map<int64_t, std::string> names, cmdlines;
  for (const auto& [id, p] : processes) {
    std::string& name = names[p.pid];
    name += (name.empty() ? "" : " -> ") + p.exe;
    cmdlines[p.pid] = p.cmdline;
  }
  for (const auto& [pid, name] : names) {
    events.add({{"ph", "M"}, {"name", "process_name"}, {"pid", pid}, {"tid", 0}, {"args", {{"name", name}}}});
    events.add({{"ph", "M"}, {"name", "process_labels"}, {"pid", pid}, {"tid", 0},
                {"args", {{"labels", cmdlines[pid].substr(0, 200)}}}});
  }
}

// Every event with its phases, thread by thread in time order.
void write_slices(Database& db, int64_t origin, EventWriter& events, PerfettoKernel& kernel) {
  Statement q = db.prepare(
      "SELECT p.pid, e.tid, e.ring_pos, e.api, e.start_ns, e.end_ns, e.reserve_ns, e.populate_ns, e.lock_ns, "
      "e.register_ns, e.bytes_1g, e.bytes_2m, e.bytes_thp, e.bytes_base, e.requested, e.mapped, e.page_class, "
      "e.fallback, e.numa_asked, e.numa_got, e.result, e.err, e.flags, e.gpu, e.caller, e.caller_module, "
      "e.caller_offset, e.process_id FROM events e JOIN processes p ON p.id = e.process_id "
      "WHERE e.start_ns IS NOT NULL AND e.end_ns IS NOT NULL AND e.api != 'cudaMemcpy' "  // copies: own tracks
      // Enclosing slices before the slices they enclose.
      "ORDER BY p.pid, e.tid, e.start_ns, max(e.end_ns, e.start_ns) DESC, e.process_id, e.ring_pos");
  std::pair<int64_t, int64_t> thread{-1, -1};
  std::vector<std::vector<int64_t>> lanes;  // per lane of this thread: ends of the open slices, innermost last
  while (q.step()) {
    const int64_t pid = q.int64(0), real_tid = q.int64(1), start = q.int64(4);
    const int64_t end = std::max(q.int64(5), start);
    const std::string api = q.text(3);
    if (thread != std::pair{pid, real_tid}) {
      thread = {pid, real_tid};
      lanes.clear();
    }
    size_t lane = 0;
    for (;; ++lane) {
      if (lane == lanes.size()) {
        lanes.emplace_back();
        std::string name = real_tid == pid ? "main thread " + std::to_string(real_tid) : "thread " + std::to_string(real_tid);
        if (lane) name += " (overlap " + std::to_string(lane) + ")";
        events.add({{"ph", "M"}, {"name", "thread_name"}, {"pid", pid},
                    {"tid", real_tid + static_cast<int64_t>(lane) * kLaneTidStride}, {"args", {{"name", name}}}});
      }
      std::vector<int64_t>& open = lanes[lane];
      while (!open.empty() && open.back() <= start) open.pop_back();
      // Fits when nothing is open or it lies inside the innermost open slice.
      if (open.empty() || end <= open.back()) {
        open.push_back(end);
        break;
      }
    }
    const int64_t tid = real_tid + static_cast<int64_t>(lane) * kLaneTidStride;
    const bool registration = kRegistrationApis.count(api) > 0;
    json args = {{"requested_bytes", q.int64(14)},
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
                 {"ring_pos", q.int64(2)}};
    for (int c = 0; c < 4; ++c) args[std::string("bytes_") + kPageClasses[c]] = q.int64(10 + c);
    events.add({{"ph", "X"},
                {"cat", registration ? "registration" : kReleaseApis.count(api) ? "release" : "allocation"},
                {"name", api},
                {"pid", pid},
                {"tid", tid},
                {"ts", micros(start, origin)},
                {"dur", micros(end, start)},
                {"args", std::move(args)}});
    int64_t at = start;
    EventSlices drawn{pid, tid, start, end, {}};
    for (int phase = 0; phase < 4; ++phase) {
      const int64_t recorded = q.int64(6 + phase);
      if (recorded <= 0 || at >= end) continue;
      const int64_t phase_end = std::min(end, at + recorded);
      drawn.phases[phase] = {at, phase_end};
      events.add({{"ph", "X"},
                  {"cat", "phase"},
                  {"name", registration && phase == 1 ? "prepare" : kPhases[phase]},
                  {"pid", pid},
                  {"tid", tid},
                  {"ts", micros(at, origin)},
                  {"dur", micros(phase_end, at)},
                  {"args", {{"recorded_ns", recorded}}}});
      at = phase_end;
    }
    kernel.write_children(q.int64(27), q.int64(2), drawn, origin, [&](const json& e) { events.add(e); });
  }
}

// Counter tracks per process: bytes mapped so far per page size (at each
// allocating event's end), records dropped (0 at the start, the ring's
// total at the end: the recording does not say when each drop happened).
void write_counters(Database& db, const std::map<int64_t, Process>& processes, int64_t origin, EventWriter& events) {
  Statement q = db.prepare(
      "SELECT process_id, api, max(end_ns, start_ns), bytes_1g, bytes_2m, bytes_thp, bytes_base FROM events "
      "WHERE start_ns IS NOT NULL AND end_ns IS NOT NULL AND api != 'cudaMemcpy' ORDER BY process_id, 3, ring_pos");
  int64_t process = -1;
  std::array<int64_t, 4> sums{};
  while (q.step()) {
    auto p = processes.find(q.int64(0));
    if (p == processes.end() || kReleaseApis.count(q.text(1))) continue;
    if (q.int64(0) != process) {
      process = q.int64(0);
      sums = {};
    }
    json series = json::object();
    for (int c = 0; c < 4; ++c) series[kPageClasses[c]] = sums[c] += q.int64(3 + c);
    events.add({{"ph", "C"}, {"name", "bytes mapped by large events"}, {"pid", p->second.pid}, {"tid", 0},
                {"ts", micros(q.int64(2), origin)}, {"args", std::move(series)}});
  }
  for (const auto& [id, p] : processes) {
    events.add({{"ph", "C"}, {"name", "records dropped"}, {"pid", p.pid}, {"tid", 0},
                {"ts", micros(p.start_ns, origin)}, {"args", {{"dropped", 0}}}});
    events.add({{"ph", "C"}, {"name", "records dropped"}, {"pid", p.pid}, {"tid", 0},
                {"ts", micros(p.end_ns, origin)}, {"args", {{"dropped", p.dropped}}}});
  }
}

}  // namespace

void write_perfetto_trace(Database& db, std::ostream& out) {
  const std::map<int64_t, Process> processes = read_processes(db);
  int64_t origin = 0;
  {
    Statement q = db.prepare(
        "SELECT min(v) FROM (SELECT min(start_monotonic_ns) AS v FROM processes "
        "UNION ALL SELECT min(start_ns) FROM events WHERE end_ns IS NOT NULL)");
    if (q.step() && !q.is_null(0)) origin = q.int64(0);
  }
  const json other = {{"source", "hugeshim export --format perfetto"},
                      {"origin_monotonic_ns", origin},
                      {"clock", "CLOCK_MONOTONIC, rebased to the earliest process start or event"}};
  out << "{\"displayTimeUnit\":\"ns\",\"otherData\":" << other.dump() << ",\"traceEvents\":[";
  PerfettoKernel kernel(db);  // before any statement stays open: it may build TEMP tables
  EventWriter events(out);
  write_names(processes, events);
  write_slices(db, origin, events, kernel);
  write_counters(db, processes, origin, events);
  write_copy_slices(db, origin, [&](const json& e) { events.add(e); });
  out << "\n]}\n";
}

}  // namespace hugeshim::collector
