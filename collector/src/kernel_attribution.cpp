#include "kernel_attribution.h"

#include <algorithm>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <unordered_map>
#include <vector>

namespace hugeshim::collector {
namespace {

using nlohmann::json;

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
// Base page of the traced hosts (x86-64): mm_page_alloc's order counts these.
constexpr int64_t kBasePage = 4096;
// Page orders at or above this are huge (order 9: 2 MiB of 4 KiB pages).
constexpr int64_t kHugeOrder = 9;
// Orders above this (1 GiB) are not real pages: counted, sized as 1 GiB.
constexpr int64_t kMaxOrder = 18;
// A timeline keeps each timestamp up to this many, then only buckets.
constexpr size_t kMaxExactTimes = 256;
constexpr size_t kMaxBuckets = 128;

const std::set<std::string> kAllocatingApis = {
    "malloc",        "calloc",         "realloc", "posix_memalign", "aligned_alloc", "memalign",
    "valloc",        "pvalloc",        "mmap",    "mremap",         "file_map",      "cudaHostAlloc",
    "cudaMallocHost", "cuMemHostAlloc", "cuMemAllocHost"};
const std::set<std::string> kReleaseApis = {"free", "munmap", "cudaFreeHost", "cuMemFreeHost"};
// Calls whose register phase is a driver registration (pin + IOMMU mapping).
const std::set<std::string> kRegisteringApis = {"cudaHostRegister", "cuMemHostRegister", "cudaHostAlloc",
                                                "cudaMallocHost",   "cuMemHostAlloc",    "cuMemAllocHost"};
constexpr uint32_t kFailedFlag = 1u << 4;  // HUGESHIM_EVENT_FAILED

// The DDL of the tables this file owns; %s is the schema ("main" or "temp").
std::string schema_sql(const std::string& s) {
  const std::string temp = s == "temp" ? "TEMP " : "";
  const std::string p = s == "temp" ? "" : s + ".";
  return "DROP TABLE IF EXISTS " + s + ".kernel_summaries; DROP TABLE IF EXISTS " + s +
         ".kernel_compactions; DROP TABLE IF EXISTS " + s + ".kernel_trace_summaries;"
         "CREATE " + temp + "TABLE " + p + R"sql(kernel_summaries (
  process_id INTEGER NOT NULL, ring_pos INTEGER NOT NULL, trace_id INTEGER,
  kernel_events INTEGER NOT NULL,
  compaction_runs INTEGER NOT NULL, compaction_ns INTEGER NOT NULL, compaction_status TEXT NOT NULL,
  compaction_stalls INTEGER NOT NULL,
  pages_by_order TEXT NOT NULL, page_alloc_bytes INTEGER NOT NULL, huge_page_alloc_bytes INTEGER NOT NULL,
  faults_window INTEGER NOT NULL, faults_address INTEGER NOT NULL, faults_huge INTEGER NOT NULL,
  faults_base INTEGER NOT NULL,
  iommu_maps INTEGER NOT NULL, iommu_map_bytes INTEGER NOT NULL, iommu_maps_4k INTEGER NOT NULL,
  iommu_maps_2m INTEGER NOT NULL, iommu_maps_1g INTEGER NOT NULL, iommu_maps_other INTEGER NOT NULL,
  iommu_unmaps INTEGER NOT NULL,
  dma_maps INTEGER NOT NULL, dma_map_bytes INTEGER NOT NULL, dma_unmaps INTEGER NOT NULL,
  first_map_ns INTEGER, last_map_ns INTEGER,
  register_split TEXT, register_start_ns INTEGER, pin_ns INTEGER, map_ns INTEGER,
  other_events TEXT NOT NULL, timeline TEXT NOT NULL,
  PRIMARY KEY (process_id, ring_pos)) WITHOUT ROWID;)sql"
         "CREATE " + temp + "TABLE " + p + R"sql(kernel_compactions (
  process_id INTEGER NOT NULL, ring_pos INTEGER NOT NULL, begin_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL,
  status TEXT NOT NULL, PRIMARY KEY (process_id, ring_pos, begin_ns)) WITHOUT ROWID;)sql"
         "CREATE " + temp + "TABLE " + p + R"sql(kernel_trace_summaries (
  trace_id INTEGER PRIMARY KEY, events_by_window INTEGER NOT NULL, events_by_address INTEGER NOT NULL,
  events_not_attributed INTEGER NOT NULL, events_damaged INTEGER NOT NULL,
  compaction_unpaired INTEGER NOT NULL, damaged_examples TEXT NOT NULL);)sql";
}

struct ShimEvent {
  int64_t process_id, ring_pos, pid, tid, start, end;
  std::string api;
  uint64_t address, size;
  std::array<int64_t, 4> phase_ns;
  std::array<int64_t, 4> page_bytes;  // 1G, 2M, thp, base
  bool allocating, release, registering;
  int64_t live_until = kNever;  // allocating events: when the region stopped being the process's
};

// "huge", "base", or "" when the event's page size is not known or mixed
// (THP may or may not have got a huge page on a given fault).
std::string fault_page_class(const ShimEvent& e) {
  int classes = 0, which = -1;
  for (int c = 0; c < 4; ++c)
    if (e.page_bytes[c] > 0) ++classes, which = c;
  if (classes != 1) return "";
  return which <= 1 ? "huge" : which == 3 ? "base" : "";
}

struct Process {
  int64_t pid, start, exit;  // exit: kNever while running
};

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Timestamps of one kind of kernel event on one shim event: each one while
// there are few, else counts in at most kMaxBuckets buckets whose width
// doubles as needed (origin: the first timestamp seen; they may come in any
// order, so a bucket index may be negative).
class Timeline {
 public:
  void add(int64_t ts) {
    if (count_ == 0) origin_ = ts;
    ++count_;
    if (exact_.size() < kMaxExactTimes) exact_.push_back(ts);
    ++buckets_[floor_div(ts - origin_, width_)];
    while (buckets_.size() > kMaxBuckets) {
      std::map<int64_t, int64_t> wider;
      for (auto [index, n] : buckets_) wider[floor_div(index, 2)] += n;
      buckets_.swap(wider);
      width_ *= 2;
    }
  }
  json to_json() const {
    if (count_ <= static_cast<int64_t>(kMaxExactTimes)) {
      std::vector<int64_t> sorted = exact_;
      std::sort(sorted.begin(), sorted.end());
      return {{"count", count_}, {"ts", sorted}};
    }
    json buckets = json::array();
    for (auto [index, n] : buckets_) buckets.push_back({index, n});
    return {{"count", count_}, {"bucket_origin_ns", origin_}, {"bucket_ns", width_}, {"buckets", buckets}};
  }

 private:
  int64_t count_ = 0, origin_ = 0, width_ = 1000;
  std::vector<int64_t> exact_;
  std::map<int64_t, int64_t> buckets_;
};

struct Summary {
  int64_t trace_id = -1, kernel_events = 0;
  int64_t compaction_runs = 0, compaction_ns = 0, compaction_stalls = 0;
  std::map<std::string, int64_t> compaction_status;
  std::map<int64_t, int64_t> pages_by_order;
  int64_t faults_window = 0, faults_address = 0, faults_huge = 0, faults_base = 0;
  int64_t iommu_maps = 0, iommu_map_bytes = 0, maps_4k = 0, maps_2m = 0, maps_1g = 0, maps_other = 0,
          iommu_unmaps = 0;
  int64_t dma_maps = 0, dma_map_bytes = 0, dma_unmaps = 0;
  int64_t first_iommu = -1, last_iommu = -1, first_dma = -1, last_dma = -1;
  std::map<std::string, int64_t> other_events;
  std::map<std::string, Timeline> timelines;
};

struct TraceInfo {
  int64_t started = 0, ended = kNever;
  bool iommu_none = false, iommu_map_traced = false;
  int64_t by_window = 0, by_address = 0, not_attributed = 0, damaged = 0, compaction_unpaired = 0;
  json damaged_examples = json::array();  // the first few, for the report
};

struct Compaction {
  size_t event;
  int64_t begin, end;
  std::string status;
};

// JSON text of values that may hold the recording's bytes (event names):
// invalid UTF-8 is replaced, never thrown on.
std::string dump(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

// A field the attribution counts with: a non-negative integer.
std::optional<int64_t> number_field(const json& fields, const char* name) {
  auto it = fields.find(name);
  if (it == fields.end()) return std::nullopt;
  if (it->is_number_unsigned() && it->get<uint64_t>() <= uint64_t{INT64_MAX}) return it->get<int64_t>();
  if (it->is_number_integer() && it->get<int64_t>() >= 0) return it->get<int64_t>();
  return std::nullopt;
}

bool in_json_array(const std::string& text, const std::string& value) {
  const json list = json::parse(text, nullptr, false);
  if (!list.is_array()) return false;
  return std::any_of(list.begin(), list.end(), [&](const json& v) { return v.is_string() && v == value; });
}

// Everything attribution needs, read once.
class Attribution {
 public:
  explicit Attribution(Database& db) : db_(db) {
    read_processes();
    read_events();
    read_traces();
    compute_lifetimes();
  }

  void run() {
    // Thread by thread in time order: the order of the capture side's index
    // (no sort of the whole table); windows and compaction pairs are per
    // thread, and nothing else depends on the order.
    Statement q = db_.prepare(
        "SELECT trace_id, ts_ns, tid, pid, event, fields FROM kernel_events ORDER BY tid, ts_ns, id");
    while (q.step()) handle(q.int64(0), q.int64(1), q.int64(2), q.is_null(3) ? -1 : q.int64(3), q.text(4), q.text(5));
    for (auto& [tid, open] : open_compaction_)
      if (open.event != kNone) ++trace(open.trace_id).compaction_unpaired;
    // Registrations inside a trace get a row even without kernel activity:
    // "no IOMMU: register is pinning only" is a finding too.
    for (size_t i = 0; i < events_.size(); ++i) {
      const ShimEvent& e = events_[i];
      if (!e.registering || e.phase_ns[3] <= 0 || summaries_.count(i)) continue;
      for (const auto& [id, t] : traces_)
        if (e.start >= t.started && e.end <= t.ended) {
          summaries_[i].trace_id = id;
          break;
        }
    }
  }

  void store(const std::string& schema) {
    const std::string p = schema + ".";
    Statement row = db_.prepare("INSERT INTO " + p + "kernel_summaries VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,"
                                "?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,?25,?26,?27,?28,?29,?30,?31,"
                                "?32,?33)");
    for (auto& [index, s] : summaries_) {
      const ShimEvent& e = events_[index];
      json status(s.compaction_status), orders = json::object(), other(s.other_events), timeline = json::object();
      for (auto [order, n] : s.pages_by_order) orders[std::to_string(order)] = n;
      for (const auto& [kind, t] : s.timelines) timeline[kind] = t.to_json();
      int64_t alloc_bytes = 0, huge_bytes = 0;
      for (auto [order, n] : s.pages_by_order) {
        const int64_t bytes = n * (kBasePage << std::min<int64_t>(order, kMaxOrder));
        alloc_bytes += bytes;
        if (order >= kHugeOrder) huge_bytes += bytes;
      }
      row.bind(1, e.process_id).bind(2, e.ring_pos);
      if (s.trace_id >= 0) row.bind(3, s.trace_id);
      else row.bind_null(3);
      row.bind(4, s.kernel_events).bind(5, s.compaction_runs).bind(6, s.compaction_ns).bind(7, dump(status));
      row.bind(8, s.compaction_stalls).bind(9, dump(orders)).bind(10, alloc_bytes).bind(11, huge_bytes);
      row.bind(12, s.faults_window).bind(13, s.faults_address).bind(14, s.faults_huge).bind(15, s.faults_base);
      row.bind(16, s.iommu_maps).bind(17, s.iommu_map_bytes).bind(18, s.maps_4k).bind(19, s.maps_2m);
      row.bind(20, s.maps_1g).bind(21, s.maps_other).bind(22, s.iommu_unmaps);
      row.bind(23, s.dma_maps).bind(24, s.dma_map_bytes).bind(25, s.dma_unmaps);
      bind_split(row, e, s);
      row.bind(32, dump(other)).bind(33, dump(timeline));
      row.run();
    }
    Statement run = db_.prepare("INSERT OR REPLACE INTO " + p + "kernel_compactions VALUES (?1, ?2, ?3, ?4, ?5)");
    for (const Compaction& c : compactions_)
      run.bind(1, events_[c.event].process_id).bind(2, events_[c.event].ring_pos).bind(3, c.begin).bind(4, c.end)
          .bind(5, c.status).run();
    Statement t = db_.prepare("INSERT INTO " + p + "kernel_trace_summaries VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    for (const auto& [id, info] : traces_)
      t.bind(1, id).bind(2, info.by_window).bind(3, info.by_address).bind(4, info.not_attributed)
          .bind(5, info.damaged).bind(6, info.compaction_unpaired).bind(7, dump(info.damaged_examples)).run();
  }

 private:
  static constexpr size_t kNone = std::numeric_limits<size_t>::max();

  struct OpenCompaction {
    size_t event = kNone;
    int64_t begin = 0, trace_id = 0;
  };
  // Per thread: its events sorted by start, the next one not yet opened,
  // and those opened whose window may still contain later kernel events.
  struct ThreadWindows {
    std::vector<size_t> by_start;
    size_t next = 0;
    std::vector<size_t> open;
  };

  void read_processes() {
    Statement q = db_.prepare("SELECT id, pid, start_monotonic_ns, exit_monotonic_ns FROM processes");
    while (q.step()) processes_[q.int64(0)] = {q.int64(1), q.int64(2), q.is_null(3) ? kNever : q.int64(3)};
  }

  void read_events() {
    Statement q = db_.prepare(
        "SELECT process_id, ring_pos, api, flags, tid, start_ns, end_ns, address, requested, mapped, bytes_1g, "
        "bytes_2m, bytes_thp, bytes_base, reserve_ns, populate_ns, lock_ns, register_ns FROM events "
        "WHERE start_ns IS NOT NULL AND end_ns IS NOT NULL ORDER BY start_ns, process_id, ring_pos");
    while (q.step()) {
      auto process = processes_.find(q.int64(0));
      if (process == processes_.end()) continue;
      ShimEvent e;
      e.process_id = q.int64(0);
      e.ring_pos = q.int64(1);
      e.api = q.text(2);
      const bool failed = (static_cast<uint64_t>(q.int64(3)) & kFailedFlag) != 0;
      e.pid = process->second.pid;
      e.tid = q.int64(4);
      e.start = q.int64(5);
      e.end = std::max(q.int64(6), e.start);
      e.address = static_cast<uint64_t>(q.int64(7));
      e.size = static_cast<uint64_t>(q.int64(9) > 0 ? q.int64(9) : q.int64(8));
      for (int c = 0; c < 4; ++c) e.page_bytes[c] = q.int64(10 + c);
      for (int p = 0; p < 4; ++p) e.phase_ns[p] = std::max<int64_t>(q.int64(14 + p), 0);
      e.allocating = !failed && e.address != 0 && e.size > 0 && kAllocatingApis.count(e.api);
      e.release = kReleaseApis.count(e.api) > 0;
      e.registering = kRegisteringApis.count(e.api) > 0;
      const size_t index = events_.size();
      events_.push_back(std::move(e));
      threads_[events_.back().tid].by_start.push_back(index);  // already sorted by start
      tid_processes_[events_.back().tid].insert(events_.back().process_id);
    }
  }

  void read_traces() {
    Statement q = db_.prepare("SELECT id, started_ns, ended_ns, events_enabled, iommu FROM kernel_trace");
    while (q.step()) {
      TraceInfo& t = traces_[q.int64(0)];
      t.started = q.int64(1);
      t.ended = q.is_null(2) ? kNever : q.int64(2);
      t.iommu_map_traced = in_json_array(q.text(3), "iommu:map");
      t.iommu_none = q.text(4) == "none";
    }
  }

  // The region of each allocation lives from its end until a release at the
  // same address, a new allocation at the same address, or the exit.
  void compute_lifetimes() {
    std::map<std::pair<int64_t, uint64_t>, std::vector<size_t>> at_address;  // (process, address) -> by start
    for (size_t i = 0; i < events_.size(); ++i)
      if ((events_[i].allocating || events_[i].release) && events_[i].address)
        at_address[{events_[i].process_id, events_[i].address}].push_back(i);
    for (auto& [key, list] : at_address)
      for (size_t k = 0; k < list.size(); ++k) {
        ShimEvent& e = events_[list[k]];
        if (!e.allocating) continue;
        e.live_until = processes_[e.process_id].exit;
        for (size_t later = k + 1; later < list.size(); ++later)
          if (events_[list[later]].start >= e.end) {
            e.live_until = std::min(e.live_until, events_[list[later]].start);
            break;
          }
      }
    for (size_t i = 0; i < events_.size(); ++i)
      if (events_[i].allocating) regions_[events_[i].process_id].push_back(i);
    for (auto& [process, list] : regions_) {
      std::sort(list.begin(), list.end(), [&](size_t a, size_t b) { return events_[a].address < events_[b].address; });
      uint64_t& largest = largest_region_[process];
      for (size_t i : list) largest = std::max(largest, events_[i].size);
    }
  }

  TraceInfo& trace(int64_t id) { return traces_[id]; }

  // Rule 1: the innermost window of this thread (and process) containing ts.
  size_t window_owner(int64_t tid, int64_t pid, int64_t ts) {
    auto found = threads_.find(tid);
    if (found == threads_.end()) return kNone;
    ThreadWindows& w = found->second;
    while (w.next < w.by_start.size() && events_[w.by_start[w.next]].start <= ts) w.open.push_back(w.by_start[w.next++]);
    std::erase_if(w.open, [&](size_t i) { return events_[i].end < ts; });
    size_t best = kNone;
    bool ambiguous = false;
    for (size_t i : w.open) {
      if (pid >= 0 && events_[i].pid != pid) continue;
      // Without a pid, windows of two processes on one tid number are ambiguous.
      if (best != kNone && events_[i].process_id != events_[best].process_id) ambiguous = true;
      if (best == kNone || events_[i].start >= events_[best].start) best = i;
    }
    return ambiguous ? kNone : best;
  }

  // The recorded process a thread belonged to at ts.
  int64_t process_of(int64_t tid, int64_t pid, int64_t ts) {
    int64_t found = -1;
    auto alive = [&](int64_t id) { return processes_[id].start <= ts && ts <= processes_[id].exit; };
    if (pid >= 0) {
      for (const auto& [id, p] : processes_)
        if (p.pid == pid && alive(id)) found = id;
      return found;
    }
    auto ids = tid_processes_.find(tid);
    if (ids == tid_processes_.end()) return -1;
    int matches = 0;
    for (int64_t id : ids->second)
      if (alive(id)) found = id, ++matches;
    return matches == 1 ? found : -1;
  }

  // Rule 2: the live allocation of the process holding `address`.
  size_t address_owner(int64_t process, uint64_t address, int64_t ts) {
    auto found = regions_.find(process);
    if (found == regions_.end()) return kNone;
    const std::vector<size_t>& list = found->second;
    const uint64_t reach = largest_region_[process];
    auto it = std::upper_bound(list.begin(), list.end(), address,
                               [&](uint64_t a, size_t i) { return a < events_[i].address; });
    while (it != list.begin()) {
      const ShimEvent& e = events_[*--it];
      if (address - e.address >= reach) break;
      if (address - e.address < e.size && e.end <= ts && ts < e.live_until) return *it;
    }
    return kNone;
  }

  void damaged(TraceInfo& t, const std::string& event, const std::string& why) {
    ++t.damaged;
    if (t.damaged_examples.size() < 5) t.damaged_examples.push_back(event + ": " + why);
  }

  void handle(int64_t trace_id, int64_t ts, int64_t tid, int64_t pid, const std::string& event,
              const std::string& fields_text) {
    TraceInfo& t = trace(trace_id);
    const json fields = json::parse(fields_text, nullptr, false);
    if (!fields.is_object()) return damaged(t, event, "fields are not a JSON object");
    // The fields each modelled event needs.
    std::optional<int64_t> value;
    auto need = [&](const char* name) {
      value = number_field(fields, name);
      if (!value) damaged(t, event, std::string("no non-negative integer field '") + name + "'");
      return value.has_value();
    };
    if (event == "compaction:mm_compaction_end" && !need("status")) return;
    if (event == "kmem:mm_page_alloc" && !need("order")) return;
    if (event == "iommu:map" && !need("size")) return;
    if ((event == "dma:dma_map_phys" || event == "dma:dma_map_page") && !need("size")) return;
    if (event == "exceptions:page_fault_user" && !need("address")) return;
    const std::optional<int64_t> field = value;

    size_t owner = window_owner(tid, pid, ts);
    bool by_address = false;
    if (owner == kNone && event == "exceptions:page_fault_user") {
      const int64_t process = process_of(tid, pid, ts);
      if (process >= 0) owner = address_owner(process, static_cast<uint64_t>(*field), ts);
      by_address = owner != kNone;
    }
    if (event == "compaction:mm_compaction_begin") {
      OpenCompaction& open = open_compaction_[tid];
      if (open.event != kNone) ++t.compaction_unpaired;  // a begin whose end was lost
      open = {owner, ts, trace_id};
    } else if (event == "compaction:mm_compaction_end") {
      OpenCompaction& open = open_compaction_[tid];
      if (open.event != kNone) {
        Summary& s = summaries_[open.event];
        ++s.compaction_runs;
        s.compaction_ns += ts - open.begin;
        const std::string status = compaction_status_name(*field);
        ++s.compaction_status[status];
        compactions_.push_back({open.event, open.begin, ts, status});
        open.event = kNone;
      } else if (owner != kNone) {
        ++t.compaction_unpaired;  // an end whose begin was not traced
      }
    }
    if (owner == kNone) {
      ++t.not_attributed;
      return;
    }
    ++(by_address ? t.by_address : t.by_window);
    Summary& s = summaries_[owner];
    if (s.trace_id < 0) s.trace_id = trace_id;
    ++s.kernel_events;
    if (event == "compaction:mm_compaction_begin" || event == "compaction:mm_compaction_end") {
      // counted with its pair above
    } else if (event == "compaction:mm_compaction_try_to_compact_pages") {
      ++s.compaction_stalls;
      s.timelines["compaction_stall"].add(ts);
    } else if (event == "kmem:mm_page_alloc") {
      ++s.pages_by_order[*field];
    } else if (event == "exceptions:page_fault_user") {
      ++(by_address ? s.faults_address : s.faults_window);
      const std::string page = fault_page_class(events_[owner]);
      if (page == "huge") ++s.faults_huge;
      if (page == "base") ++s.faults_base;
      s.timelines[by_address ? "lazy_fault" : "fault"].add(ts);
    } else if (event == "iommu:map") {
      const int64_t size = *field;
      ++s.iommu_maps;
      s.iommu_map_bytes += size;
      ++(size == 4096 ? s.maps_4k : size == 2 << 20 ? s.maps_2m : size == int64_t{1} << 30 ? s.maps_1g : s.maps_other);
      s.first_iommu = s.first_iommu < 0 ? ts : std::min(s.first_iommu, ts);
      s.last_iommu = std::max(s.last_iommu, ts);
      s.timelines["iommu_map"].add(ts);
    } else if (event == "iommu:unmap") {
      ++s.iommu_unmaps;
    } else if (event == "dma:dma_map_sg" || event == "dma:dma_map_phys" || event == "dma:dma_map_page") {
      ++s.dma_maps;
      if (field) {
        s.dma_map_bytes += *field;
      } else if (auto lengths = fields.find("lengths"); lengths != fields.end() && lengths->is_array()) {
        for (const json& n : *lengths)
          if (n.is_number_integer()) s.dma_map_bytes += n.get<int64_t>();
      }
      s.first_dma = s.first_dma < 0 ? ts : std::min(s.first_dma, ts);
      s.last_dma = std::max(s.last_dma, ts);
      s.timelines["dma_map"].add(ts);
    } else if (event == "dma:dma_unmap_sg" || event == "dma:dma_unmap_phys" || event == "dma:dma_unmap_page") {
      ++s.dma_unmaps;
    } else {
      ++s.other_events[event];
    }
  }

  // Columns 26..31: first/last map, register split, estimated register
  // start, pin and map nanoseconds.
  void bind_split(Statement& row, const ShimEvent& e, const Summary& s) {
    const bool iommu = s.first_iommu >= 0;
    const int64_t first = iommu ? s.first_iommu : s.first_dma, last = iommu ? s.last_iommu : s.last_dma;
    if (first >= 0) row.bind(26, first).bind(27, last);
    else row.bind_null(26).bind_null(27);
    const int64_t register_ns = e.phase_ns[3];
    if (!e.registering || register_ns <= 0) {
      for (int c = 28; c <= 31; ++c) row.bind_null(c);
      return;
    }
    // Phases run reserve, populate, lock, register from the event's start
    // (the record keeps durations only): the register phase's start is an
    // estimate, clipped to the event.
    const int64_t start = std::min(e.end, e.start + e.phase_ns[0] + e.phase_ns[1] + e.phase_ns[2]);
    const TraceInfo* t = s.trace_id >= 0 ? &traces_[s.trace_id] : nullptr;
    std::string split;
    std::optional<int64_t> pin, map;
    if (t && t->iommu_none) {
      split = "no_iommu", pin = register_ns;
    } else if (t && !t->iommu_map_traced && !iommu && first < 0) {
      split = "iommu_not_traced", pin = register_ns;
    } else if (first >= 0) {
      split = iommu ? "iommu" : "dma";
      pin = std::clamp<int64_t>(first - start, 0, register_ns);
      map = std::clamp<int64_t>(last - std::max(first, start), 0, register_ns - *pin);
    } else {
      split = "no_map_seen";
    }
    row.bind(28, split).bind(29, start);
    if (pin) row.bind(30, *pin);
    else row.bind_null(30);
    if (map) row.bind(31, *map);
    else row.bind_null(31);
  }

  Database& db_;
  std::map<int64_t, Process> processes_;
  std::vector<ShimEvent> events_;
  std::unordered_map<int64_t, ThreadWindows> threads_;
  std::unordered_map<int64_t, std::set<int64_t>> tid_processes_;
  std::map<int64_t, std::vector<size_t>> regions_;  // per process: allocations by address
  std::map<int64_t, uint64_t> largest_region_;
  std::map<int64_t, TraceInfo> traces_;
  std::unordered_map<int64_t, OpenCompaction> open_compaction_;  // per tid
  std::map<size_t, Summary> summaries_;
  std::vector<Compaction> compactions_;
};

bool has_kernel_tables(Database& db) {
  return table_exists(db, "kernel_trace") && table_exists(db, "kernel_events");
}

void attribute_into(Database& db, const std::string& schema) {
  db.exec("BEGIN");
  try {
    db.exec(schema_sql(schema));
    Attribution attribution(db);
    attribution.run();
    attribution.store(schema);
    db.exec("COMMIT");
  } catch (...) {
    db.exec("ROLLBACK");
    throw;
  }
}

}  // namespace

bool table_exists(Database& db, const std::string& name) {
  Statement q = db.prepare(
      "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1 "
      "UNION ALL SELECT 1 FROM sqlite_temp_master WHERE type = 'table' AND name = ?1");
  q.bind(1, name);
  return q.step();
}

std::string compaction_status_name(int64_t status) {
  // compaction/mm_compaction_end's __print_symbolic on this kernel family
  // (checked against the fixture format file by kernel_attribution_test).
  static const char* const kNames[] = {"not_suitable_zone", "skipped", "deferred", "no_suitable_page", "continue",
                                       "complete",          "partial_skipped", "contended", "success"};
  if (status >= 0 && status < static_cast<int64_t>(std::size(kNames))) return kNames[status];
  return "status " + std::to_string(status);
}

void attribute_kernel_events(Database& db) {
  if (has_kernel_tables(db)) attribute_into(db, "main");
}

bool ensure_kernel_summaries(Database& db) {
  if (!has_kernel_tables(db)) return false;
  if (!table_exists(db, "kernel_summaries")) attribute_into(db, "temp");
  return true;
}

}  // namespace hugeshim::collector
