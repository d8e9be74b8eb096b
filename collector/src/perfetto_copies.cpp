#include "perfetto_copies.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "report.h"
#include "report_copies.h"

namespace hugeshim::collector {
namespace {

using nlohmann::json;

double micros(int64_t ns, int64_t origin) { return static_cast<double>(ns - origin) / 1000.0; }

bool has_copy_columns(Database& db) {
  Statement q = db.prepare("SELECT count(*) FROM pragma_table_info('events') WHERE name = 'stream'");
  return q.step() && q.int64(0) > 0;
}

}  // namespace

void write_copy_slices(Database& db, int64_t origin, const std::function<void(const json&)>& add) {
  if (!has_copy_columns(db)) return;
  Statement q = db.prepare(
      "SELECT p.pid, e.stream, e.start_ns, e.end_ns, e.copy_kind, e.host_memory, e.flags, e.requested, e.address, "
      "e.tid, e.correlation, e.ring_pos, e.bytes_1g, e.bytes_2m, e.bytes_thp, e.bytes_base, e.process_id "
      "FROM events e JOIN processes p ON p.id = e.process_id "
      "WHERE e.api = ?1 AND e.start_ns IS NOT NULL AND e.end_ns IS NOT NULL "
      "ORDER BY p.pid, e.stream, e.start_ns, e.process_id, e.ring_pos");
  q.bind(1, kCopyApi);
  // Per pid: the tracks handed out, keyed by (stream, overlap lane).
  std::map<int64_t, std::map<std::pair<int64_t, size_t>, int64_t>> tracks;
  std::pair<int64_t, int64_t> stream_of{-1, -1};  // (pid, stream) of lane_ends
  std::vector<int64_t> lane_ends;                 // per lane of this stream: end of its last copy
  while (q.step()) {
    const int64_t pid = q.int64(0), stream = q.is_null(1) ? 0 : q.int64(1), start = q.int64(2);
    const int64_t end = std::max(q.int64(3), start);
    if (stream_of != std::pair{pid, stream}) {
      stream_of = {pid, stream};
      lane_ends.clear();
    }
    size_t lane = 0;
    while (lane < lane_ends.size() && lane_ends[lane] > start) ++lane;
    if (lane == lane_ends.size()) lane_ends.push_back(end);
    else lane_ends[lane] = end;
    auto& of_pid = tracks[pid];
    auto track = of_pid.find({stream, lane});
    if (track == of_pid.end()) {
      const int64_t tid = kCopyTrackTid + static_cast<int64_t>(of_pid.size());
      track = of_pid.emplace(std::pair{stream, lane}, tid).first;
      std::string name = "GPU copies (stream " + std::to_string(stream);
      if (lane) name += ", overlap " + std::to_string(lane);
      name += ")";
      add({{"ph", "M"}, {"name", "thread_name"}, {"pid", pid}, {"tid", tid}, {"args", {{"name", name}}}});
      // Copy tracks sort after the program's threads.
      add({{"ph", "M"}, {"name", "thread_sort_index"}, {"pid", pid}, {"tid", tid},
           {"args", {{"sort_index", 1000000 + static_cast<int64_t>(of_pid.size())}}}});
    }
    const std::string direction = q.is_null(4) ? "unknown" : q.text(4);
    const std::string memory = q.is_null(5) ? "unknown" : q.text(5);
    const int64_t page_bytes[4] = {q.int64(12), q.int64(13), q.int64(14), q.int64(15)};
    const std::string backing = copy_backing(memory, q.int64(6), page_bytes);
    const int64_t bytes = q.int64(7);
    std::string name = direction + " " + bytes_text(bytes) + " " + backing;
    json args = {{"bytes", bytes},       {"direction", direction},    {"host_memory", memory},
                 {"backing", backing},   {"stream", stream},          {"correlation", q.int64(10)},
                 {"issuing_tid", q.int64(9)}, {"ring_pos", q.int64(11)}};
    char address[32];
    snprintf(address, sizeof address, "0x%" PRIx64, static_cast<uint64_t>(q.int64(8)));
    args["host_address"] = address;
    if (end > start) {
      const double gbps = copy_gbps(bytes, end - start);
      char rate[32];
      snprintf(rate, sizeof rate, " %.1f GB/s", gbps);
      name += rate;
      args["gbps"] = gbps;
    }
    add({{"ph", "X"},
         {"cat", "copy"},
         {"name", name},
         {"pid", pid},
         {"tid", track->second},
         {"ts", micros(start, origin)},
         {"dur", micros(end, start)},
         {"args", std::move(args)}});
  }
}

}  // namespace hugeshim::collector
