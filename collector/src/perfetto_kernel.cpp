#include "perfetto_kernel.h"

#include <algorithm>
#include <string>
#include <vector>

#include "kernel_attribution.h"

namespace hugeshim::collector {
namespace {

using nlohmann::json;

double micros(int64_t ns, int64_t origin) { return static_cast<double>(ns - origin) / 1000.0; }

struct Interval {
  int64_t begin, end;
  bool holds(int64_t t) const { return begin < end && begin <= t && t < end; }
};

// Names of the timeline kinds (kernel_attribution.cpp) on the trace.
const char* kind_name(const std::string& kind) {
  if (kind == "fault") return "page fault";
  if (kind == "lazy_fault") return "page fault after the call (by address)";
  if (kind == "iommu_map") return "iommu map";
  if (kind == "dma_map") return "dma map";
  if (kind == "compaction_stall") return "direct compaction stall";
  return "kernel event";
}

}  // namespace

PerfettoKernel::PerfettoKernel(Database& db) : db_(db) {
  if (!ensure_kernel_summaries(db)) return;
  Statement q = db.prepare(
      "SELECT process_id, ring_pos, register_split, pin_ns, map_ns, iommu_maps, dma_maps, timeline "
      "FROM kernel_summaries");
  while (q.step()) {
    Summary s;
    if (!q.is_null(2)) s.register_split = q.text(2);
    if (!q.is_null(3)) s.pin_ns = q.int64(3);
    if (!q.is_null(4)) s.map_ns = q.int64(4);
    s.iommu_maps = q.int64(5);
    s.dma_maps = q.int64(6);
    s.timeline = json::parse(q.text(7), nullptr, false);
    if (!s.timeline.is_object()) s.timeline = json::object();
    summaries_[{q.int64(0), q.int64(1)}] = std::move(s);
  }
}

void PerfettoKernel::write_children(int64_t process_id, int64_t ring_pos, const EventSlices& ev, int64_t origin,
                                    const std::function<void(const json&)>& emit) {
  auto found = summaries_.find({process_id, ring_pos});
  if (found == summaries_.end()) return;
  const Summary& s = found->second;
  auto slice = [&](const std::string& name, Interval at, json args) {
    emit({{"ph", "X"}, {"cat", "kernel"}, {"name", name}, {"pid", ev.pid}, {"tid", ev.tid},
          {"ts", micros(at.begin, origin)}, {"dur", micros(at.end, at.begin)}, {"args", std::move(args)}});
  };
  // Slices drawn so far, outermost first: what a compaction run nests in.
  std::vector<Interval> frames = {{ev.start, ev.end}};
  for (auto [b, e] : ev.phases) frames.push_back({b, e});

  // The register phase, split where the first map happened.
  const Interval reg{ev.phases[3].first, ev.phases[3].second};
  if (reg.begin < reg.end && !s.register_split.empty() && s.pin_ns >= 0) {
    const int64_t pin_end = std::min(reg.end, reg.begin + s.pin_ns);
    json pin_args = {{"pin_ns", s.pin_ns}, {"split", s.register_split}};
    if (s.register_split == "no_iommu") pin_args["note"] = "no IOMMU: register is pinning only";
    if (s.register_split == "iommu_not_traced")
      pin_args["note"] = "iommu:map was not traced: register is shown as pinning only";
    if (pin_end > reg.begin) {
      slice("pin", {reg.begin, pin_end}, std::move(pin_args));
      frames.push_back({reg.begin, pin_end});
    }
    if (s.map_ns >= 0) {
      const int64_t map_end = std::min(reg.end, pin_end + s.map_ns);
      const bool iommu = s.register_split == "iommu";
      if (map_end > pin_end) {
        slice(iommu ? "iommu map" : "dma map", {pin_end, map_end},
              {{"map_ns", s.map_ns}, {"maps", iommu ? s.iommu_maps : s.dma_maps}});
        frames.push_back({pin_end, map_end});
      }
    }
  }

  // Compaction runs at their real times, inside the innermost drawn slice
  // that holds their begin.
  Statement runs = db_.prepare(
      "SELECT begin_ns, end_ns, status FROM kernel_compactions WHERE process_id = ?1 AND ring_pos = ?2 "
      "ORDER BY begin_ns");
  runs.bind(1, process_id).bind(2, ring_pos);
  size_t drawn = 0, total = 0;
  while (runs.step()) {
    ++total;
    if (drawn == kMaxCompactionSlices) continue;
    const int64_t begin = runs.int64(0), end = std::max(runs.int64(1), begin);
    Interval parent = frames[0];
    for (const Interval& f : frames)
      if (f.holds(begin) && f.begin >= parent.begin && f.end <= parent.end) parent = f;
    const Interval at{std::clamp(begin, parent.begin, parent.end), std::clamp(end, parent.begin, parent.end)};
    if (at.end <= at.begin) continue;
    slice("compaction", at,
          {{"begin_ns", begin}, {"end_ns", end}, {"status", runs.text(2)}, {"clipped", at.begin != begin || at.end != end}});
    ++drawn;
  }
  if (total > drawn)
    emit({{"ph", "i"}, {"s", "t"}, {"cat", "kernel"}, {"name", "compaction runs not drawn"}, {"pid", ev.pid},
          {"tid", ev.tid}, {"ts", micros(ev.start, origin)},
          {"args", {{"runs", total}, {"drawn", drawn}, {"limit", kMaxCompactionSlices}}}});

  // Instants while few, else a rate counter over the attribution's buckets.
  for (const auto& [kind, t] : s.timeline.items()) {
    const bool lazy = kind == "lazy_fault";
    const std::string name = kind_name(kind);
    if (t.contains("ts") && t["ts"].is_array()) {
      for (const json& ts : t["ts"]) {
        if (!ts.is_number_integer()) continue;
        emit({{"ph", "i"}, {"s", lazy ? "p" : "t"}, {"cat", "kernel"}, {"name", name}, {"pid", ev.pid},
              {"tid", ev.tid}, {"ts", micros(ts.get<int64_t>(), origin)}});
      }
      continue;
    }
    if (!t.contains("buckets") || !t["buckets"].is_array()) continue;
    const int64_t bucket_origin = t.value("bucket_origin_ns", int64_t{0}), width = std::max<int64_t>(t.value("bucket_ns", int64_t{1}), 1);
    const std::string counter = name + (lazy ? "s per ms" : "s per ms (thread " + std::to_string(ev.tid) + ")");
    emit({{"ph", "i"}, {"s", lazy ? "p" : "t"}, {"cat", "kernel"}, {"name", name + ": drawn as a rate counter"},
          {"pid", ev.pid}, {"tid", ev.tid}, {"ts", micros(bucket_origin, origin)},
          {"args", {{"count", t.value("count", int64_t{0})}, {"bucket_ns", width}, {"counter", counter}}}});
    int64_t previous = -2;
    for (const json& b : t["buckets"]) {
      if (!b.is_array() || b.size() != 2 || !b[0].is_number_integer() || !b[1].is_number_integer()) continue;
      const int64_t index = b[0].get<int64_t>(), n = b[1].get<int64_t>();
      if (previous >= 0 && index != previous + 1)  // a gap: back to zero after the previous bucket
        emit({{"ph", "C"}, {"name", counter}, {"pid", ev.pid}, {"tid", 0},
              {"ts", micros(bucket_origin + (previous + 1) * width, origin)}, {"args", {{"per_ms", 0}}}});
      emit({{"ph", "C"}, {"name", counter}, {"pid", ev.pid}, {"tid", 0},
            {"ts", micros(bucket_origin + index * width, origin)},
            {"args", {{"per_ms", static_cast<double>(n) * 1e6 / static_cast<double>(width)}}}});
      previous = index;
    }
    if (previous >= 0)
      emit({{"ph", "C"}, {"name", counter}, {"pid", ev.pid}, {"tid", 0},
            {"ts", micros(bucket_origin + (previous + 1) * width, origin)}, {"args", {{"per_ms", 0}}}});
  }
}

}  // namespace hugeshim::collector
