// attribute_kernel_events() and what report and the Perfetto export show of
// it, on recordings built here: the base schema and the shim's events
// through the collector's own Store, the kernel tables of a --kernel
// recording as their contract defines them, and kernel events whose fields
// are named exactly as in this kernel's tracefs format files
// (fixtures/tracefs, copied from /sys/kernel/tracing/events; a field the
// format does not have fails the test).
#define BOOST_TEST_MODULE kernel_attribution
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "kernel_attribution.h"
#include "kernel_store.h"
#include "perfetto_trace.h"
#include "report.h"
#include "store.h"
#include "temp_dir.h"

using namespace hugeshim::collector;
using hugeshim_test::TempDir;
using nlohmann::json;

namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kT0 = 100'000 * kMs;  // CLOCK_MONOTONIC ns of the recordings' processes' start
constexpr uint64_t k2M = 2 << 20, k4K = 4096;

// The event's own field names (no common_*), from its fixture format file.
const std::vector<std::string>& format_fields(const std::string& event) {
  static std::map<std::string, std::vector<std::string>> cache;
  if (auto hit = cache.find(event); hit != cache.end()) return hit->second;
  const std::string path = std::string(HUGESHIM_SOURCE_DIR) + "/tests/observability/fixtures/tracefs/" +
                           event.substr(0, event.find(':')) + "/" + event.substr(event.find(':') + 1) + "/format";
  std::ifstream in(path);
  BOOST_REQUIRE_MESSAGE(in, "no fixture " + path);
  std::vector<std::string> names;
  const std::regex field(R"(^\s*field:.*?([A-Za-z_][A-Za-z0-9_]*)(\[\d*\])?;\s*offset:)");
  std::string line;
  std::smatch m;
  while (std::getline(in, line))
    if (std::regex_search(line, m, field) && m[1].str().rfind("common_", 0) != 0) names.push_back(m[1]);
  BOOST_REQUIRE(!names.empty());
  return cache[event] = names;
}

// The fields of one event: exactly the format's names.
json fields_of(const std::string& event, const json& values) {
  std::set<std::string> wanted;
  for (const std::string& n : format_fields(event)) wanted.insert(n);
  std::set<std::string> given;
  for (auto& [k, v] : values.items()) given.insert(k);
  BOOST_REQUIRE_MESSAGE(wanted == given, event + ": fields differ from its format file");
  return values;
}

json iommu_map(uint64_t iova, uint64_t size) {
  return fields_of("iommu:map", {{"iova", iova}, {"paddr", iova + 0x100000000}, {"size", size}});
}
json dma_map_phys(uint64_t size) {
  return fields_of("dma:dma_map_phys", {{"device", "0000:17:00.0"}, {"phys_addr", 0x200000000},
                                        {"dma_addr", 0x200000000}, {"size", size}, {"dir", 0}, {"attrs", 0}});
}
json dma_map_sg(std::vector<uint64_t> lengths) {
  std::vector<uint64_t> addrs(lengths.size(), 0x300000000);
  return fields_of("dma:dma_map_sg", {{"device", "0000:17:00.0"}, {"full_nents", lengths.size()},
                                      {"full_ents", lengths.size()}, {"truncated", 0}, {"phys_addrs", addrs},
                                      {"dma_addrs", addrs}, {"lengths", lengths}, {"dir", 0}, {"attrs", 0}});
}
json compaction_begin() {
  return fields_of("compaction:mm_compaction_begin", {{"zone_start", 0x100000}, {"migrate_pfn", 0x100000},
                                                      {"free_pfn", 0x4000000}, {"zone_end", 0x4080000}, {"sync", 0}});
}
json compaction_end(int status) {
  return fields_of("compaction:mm_compaction_end", {{"zone_start", 0x100000}, {"migrate_pfn", 0x180000},
                                                    {"free_pfn", 0x3f00000}, {"zone_end", 0x4080000}, {"sync", 0},
                                                    {"status", status}});
}
json try_to_compact(int order) {
  return fields_of("compaction:mm_compaction_try_to_compact_pages",
                   {{"order", order}, {"gfp_mask", 0x1c2cca}, {"prio", 2}});
}
json page_alloc(unsigned order) {
  return fields_of("kmem:mm_page_alloc", {{"pfn", 0x123400}, {"order", order}, {"gfp_flags", 0x1c2cca}, {"migratetype", 1}});
}
json fault(uint64_t address) {
  return fields_of("exceptions:page_fault_user", {{"address", address}, {"ip", 0x401000}, {"error_code", 6}});
}

struct ShimEvent {
  uint32_t api;
  int32_t tid;
  int64_t start, end;
  uint64_t address, size;
  std::array<uint64_t, 4> phases;
  uint32_t page_class = HUGESHIM_PAGE_2M;
};

// A recording under construction.
class Recording {
 public:
  Recording() : path_(dir_.file("r.db")) { Store(path_, false); }
  const std::string& path() const { return path_; }

  int64_t process(int32_t pid, const std::vector<ShimEvent>& events) {
    Store store(path_, false);
    RingIdentity id;
    id.pid = pid;
    id.start_ticks = static_cast<uint64_t>(pid);
    id.start_monotonic_ns = kT0;
    id.exe = "/opt/app/server";
    id.argv = {"server"};
    const int64_t process = store.process(id);
    std::vector<DrainedSlot> slots;
    for (const ShimEvent& e : events) {
      DrainedSlot s;
      s.position = slots.size();
      s.record.api = e.api;
      s.record.tid = e.tid;
      s.record.gpu = -1;
      s.record.start_ns = static_cast<uint64_t>(e.start);
      s.record.end_ns = static_cast<uint64_t>(e.end);
      s.record.address = e.address;
      s.record.requested = s.record.mapped = e.size;
      s.record.page_bytes[e.page_class] = e.size;
      for (int p = 0; p < 4; ++p) s.record.phase_ns[p] = e.phases[p];
      slots.push_back(s);
    }
    // The ring header's totals, as a drain stores them with the records.
    RingTotals totals;
    for (const ShimEvent& e : events) {
      ++totals.counters[e.api].events;
      ++totals.counters[e.api].records_written;
    }
    store.begin();
    store.add_slots(process, slots.data(), slots.size(), {});
    store.set_totals(process, totals);
    store.commit();
    return process;
  }

  // One kernel trace; returns its id.
  int64_t trace(const std::string& iommu, std::vector<std::string> enabled = {"iommu:map", "iommu:unmap",
                    "dma:dma_map_sg", "dma:dma_map_phys", "compaction:mm_compaction_begin",
                    "compaction:mm_compaction_end", "compaction:mm_compaction_try_to_compact_pages",
                    "kmem:mm_page_alloc", "exceptions:page_fault_user"}) {
    Database db(path_, Database::Mode::read_write);
    KernelStore tables(db);  // the capture side's schema
    Statement q = db.prepare(
        "INSERT INTO kernel_trace (started_ns, ended_ns, cpus, buffer_kb_per_cpu, events_enabled, events_missing, "
        "events_read, events_lost, iommu) VALUES (?1, ?2, 2, 4096, ?3, '[\"huge_memory:mm_khugepaged_scan_pmd\"]', "
        "?4, 3, ?5)");
    q.bind(1, kT0).bind(2, kT0 + 100'000 * kMs).bind(3, json(enabled).dump()).bind(4, int64_t{0}).bind(5, iommu).run();
    return sqlite3_last_insert_rowid(db.handle());
  }

  void kernel(int64_t trace, int64_t ts, int64_t tid, std::optional<int64_t> pid, const std::string& event,
              const std::string& fields) {
    pending_.push_back({trace, ts, tid, pid, event, fields});
  }
  void kernel(int64_t trace, int64_t ts, int64_t tid, std::optional<int64_t> pid, const std::string& event,
              const json& fields) {
    kernel(trace, ts, tid, pid, event, fields.dump());
  }

  // Writes the pending kernel events and attributes.
  void attribute() {
    Database db(path_, Database::Mode::read_write);
    flush(db);
    attribute_kernel_events(db);
  }
  void flush(Database& db) {
    if (pending_.empty()) return;
    db.exec("BEGIN");
    Statement q = db.prepare("INSERT INTO kernel_events (trace_id, ts_ns, cpu, tid, pid, event, fields) "
                             "VALUES (?1, ?2, 0, ?3, ?4, ?5, ?6)");
    for (const Pending& k : pending_) {
      q.bind(1, k.trace).bind(2, k.ts).bind(3, k.tid);
      if (k.pid) q.bind(4, *k.pid);
      else q.bind_null(4);
      q.bind(5, k.event).bind(6, k.fields).run();
    }
    db.exec("COMMIT");
    Statement read = db.prepare("UPDATE kernel_trace SET events_read = (SELECT count(*) FROM kernel_events)");
    read.run();
    pending_.clear();
  }

  // The summary row of an event as JSON (null when it has none).
  json summary(int64_t process, int64_t ring_pos) {
    Database db(path_, Database::Mode::read_only);
    Statement q = db.prepare("SELECT * FROM kernel_summaries WHERE process_id = ?1 AND ring_pos = ?2");
    q.bind(1, process).bind(2, ring_pos);
    if (!q.step()) return nullptr;
    json row;
    Statement names = db.prepare("SELECT name FROM pragma_table_info('kernel_summaries') ORDER BY cid");
    int column = 0;
    while (names.step()) {
      const std::string name = names.text(0);
      row[name] = q.is_null(column) ? json(nullptr) : json::parse(q.text(column), nullptr, false);
      if (row[name].is_discarded()) row[name] = q.text(column);
      ++column;
    }
    return row;
  }

  json trace_summary(int64_t trace) {
    Database db(path_, Database::Mode::read_only);
    Statement q = db.prepare(
        "SELECT events_by_window, events_by_address, events_not_attributed, events_damaged, compaction_unpaired, "
        "damaged_examples FROM kernel_trace_summaries WHERE trace_id = ?1");
    q.bind(1, trace);
    BOOST_REQUIRE(q.step());
    return {{"window", q.int64(0)}, {"address", q.int64(1)}, {"not_attributed", q.int64(2)},
            {"damaged", q.int64(3)}, {"unpaired", q.int64(4)}, {"examples", json::parse(q.text(5))}};
  }

  json report() {
    Database db(path_, Database::Mode::read_only);
    return build_report(db, 10);
  }
  std::string text() {
    std::ostringstream out;
    render_text(report(), out);
    return out.str();
  }
  json perfetto() {
    Database db(path_, Database::Mode::read_only);
    std::ostringstream out;
    write_perfetto_trace(db, out);
    return json::parse(out.str());
  }

 private:
  struct Pending {
    int64_t trace, ts, tid;
    std::optional<int64_t> pid;
    std::string event, fields;
  };
  TempDir dir_;
  std::string path_;
  std::vector<Pending> pending_;
};

std::vector<json> slices(const json& trace, const std::string& name) {
  std::vector<json> found;
  for (const json& e : trace["traceEvents"])
    if (e["ph"] == "X" && e["name"] == name) found.push_back(e);
  return found;
}

// Whether slice `inner` lies within `outer` on the same track (microseconds, 3 decimals).
bool nests(const json& inner, const json& outer) {
  const double eps = 0.0015;
  return inner["pid"] == outer["pid"] && inner["tid"] == outer["tid"] &&
         inner["ts"].get<double>() >= outer["ts"].get<double>() - eps &&
         inner["ts"].get<double>() + inner["dur"].get<double>() <=
             outer["ts"].get<double>() + outer["dur"].get<double>() + eps;
}

}  // namespace

BOOST_AUTO_TEST_CASE(registration_splits_at_the_first_2mib_iommu_map) {
  Recording r;
  // A program's own 64 MiB registration: 2 ms of preparation by the shim
  // (phase populate), then 8 ms inside the driver (register, from +2 ms).
  const int64_t p = r.process(100, {{HUGESHIM_API_CUDA_HOST_REGISTER, 100, kT0 + 10 * kMs, kT0 + 20 * kMs, 0x7f0000000000,
                                     64 << 20, {0, 2 * kMs, 0, 8 * kMs}}});
  const int64_t t = r.trace("present");
  // Pinning from +12 ms to the first of 32 maps of 2 MiB at +15 ms; the
  // last at +19 ms; the call returns at +20 ms.
  for (int i = 0; i < 32; ++i)
    r.kernel(t, kT0 + 15 * kMs + i * (4 * kMs / 31), 100, 100, "iommu:map", iommu_map(0x100000000 + i * k2M, k2M));
  r.kernel(t, kT0 + 13 * kMs, 100, 100, "dma:dma_map_sg", dma_map_sg({k2M, k2M}));
  r.attribute();
  const json s = r.summary(p, 0);
  BOOST_REQUIRE(!s.is_null());
  BOOST_CHECK_EQUAL(s["register_split"], "iommu");
  BOOST_CHECK_EQUAL(s["register_start_ns"], kT0 + 12 * kMs);
  BOOST_CHECK_EQUAL(s["pin_ns"], 3 * kMs);  // register start (+12 ms) .. first iommu map (+15 ms)
  BOOST_CHECK_EQUAL(s["map_ns"], 31 * (4 * kMs / 31));
  BOOST_CHECK_EQUAL(s["iommu_maps"], 32);
  BOOST_CHECK_EQUAL(s["iommu_maps_2m"], 32);
  BOOST_CHECK_EQUAL(s["iommu_maps_4k"], 0);
  BOOST_CHECK_EQUAL(s["iommu_map_bytes"], 32 * k2M);
  BOOST_CHECK_EQUAL(s["dma_maps"], 1);
  BOOST_CHECK_EQUAL(s["dma_map_bytes"], 2 * k2M);  // the sum of the scatterlist's lengths
  const std::string text = r.text();
  BOOST_TEST_MESSAGE(text);
  BOOST_CHECK_NE(text.find("cudaHostRegister 64.0 MiB (2M): register 8.0 ms = pin 3.0 ms + IOMMU map 4.0 ms + after "
                           "the last map 1.0 ms (32 maps of 2 MiB), prepare 2.0 ms"),
                 std::string::npos);
}

BOOST_AUTO_TEST_CASE(registration_with_4kib_maps_and_dma_only_split) {
  Recording r;
  // cudaHostAlloc: reserve 1, populate 4, lock 1, register 10 ms.
  const int64_t p = r.process(110, {{HUGESHIM_API_CUDA_HOST_ALLOC, 111, kT0, kT0 + 16 * kMs, 0x7e0000000000, 1 << 20,
                                     {kMs, 4 * kMs, kMs, 10 * kMs}, HUGESHIM_PAGE_BASE},
                                    {HUGESHIM_API_CUDA_HOST_REGISTER, 111, kT0 + 20 * kMs, kT0 + 30 * kMs,
                                     0x7d0000000000, 1 << 20, {0, 0, 0, 10 * kMs}}});
  const int64_t t = r.trace("present");
  for (int i = 0; i < 256; ++i)
    r.kernel(t, kT0 + 8 * kMs + i * 8'000, 111, 110, "iommu:map", iommu_map(0x200000 + i * k4K, k4K));
  // The second registration shows DMA maps but no IOMMU map (identity domain).
  r.kernel(t, kT0 + 24 * kMs, 111, 110, "dma:dma_map_phys", dma_map_phys(1 << 20));
  r.kernel(t, kT0 + 26 * kMs, 111, 110, "dma:dma_map_phys", dma_map_phys(1 << 20));
  r.attribute();
  const json a = r.summary(p, 0);
  BOOST_CHECK_EQUAL(a["register_split"], "iommu");
  BOOST_CHECK_EQUAL(a["pin_ns"], 2 * kMs);  // register starts at +6 ms, first map at +8 ms
  BOOST_CHECK_EQUAL(a["map_ns"], 255 * 8'000);
  BOOST_CHECK_EQUAL(a["iommu_maps_4k"], 256);
  BOOST_CHECK_EQUAL(a["iommu_maps_2m"], 0);
  const json b = r.summary(p, 1);
  BOOST_CHECK_EQUAL(b["register_split"], "dma");
  BOOST_CHECK_EQUAL(b["pin_ns"], 4 * kMs);
  BOOST_CHECK_EQUAL(b["map_ns"], 2 * kMs);
  BOOST_CHECK_EQUAL(b["dma_map_bytes"], 2 << 20);
  const std::string text = r.text();
  BOOST_CHECK_NE(text.find("register 10.0 ms = pin 2.0 ms + IOMMU map 2.0 ms + after the last map 6.0 ms (256 maps of "
                           "4 KiB)"),
                 std::string::npos);
  BOOST_CHECK_NE(text.find("register 10.0 ms = pin 4.0 ms + DMA map 2.0 ms"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(without_an_iommu_register_is_pinning_only) {
  for (const std::string mode : {"none", "untraced"}) {
    Recording r;
    const int64_t p = r.process(120, {{HUGESHIM_API_CUDA_HOST_REGISTER, 120, kT0, kT0 + 5 * kMs, 0x7f0000000000,
                                       1 << 30, {0, 0, 0, 5 * kMs}}});
    if (mode == "none") r.trace("none");
    else r.trace("present", {"compaction:mm_compaction_begin", "compaction:mm_compaction_end"});
    r.attribute();  // no kernel event at all: the registration still gets its row
    const json s = r.summary(p, 0);
    BOOST_REQUIRE(!s.is_null());
    BOOST_CHECK_EQUAL(s["register_split"], mode == "none" ? "no_iommu" : "iommu_not_traced");
    BOOST_CHECK_EQUAL(s["pin_ns"], 5 * kMs);
    BOOST_CHECK(s["map_ns"].is_null());
    const std::string text = r.text();
    BOOST_CHECK_NE(text.find(mode == "none" ? "register 5.0 ms (no IOMMU: register is pinning only)"
                                            : "register 5.0 ms (no IOMMU map events traced: register is pinning only)"),
                   std::string::npos);
    const json trace = r.perfetto();
    const auto pin = slices(trace, "pin");
    BOOST_REQUIRE_EQUAL(pin.size(), 1u);
    BOOST_CHECK(slices(trace, "iommu map").empty());
    if (mode == "none") BOOST_CHECK_EQUAL(pin[0]["args"]["note"], "no IOMMU: register is pinning only");
  }
}

BOOST_AUTO_TEST_CASE(compaction_goes_to_the_allocation_of_its_thread) {
  Recording r;
  // Two threads populate a THP region each, at the same time.
  const int64_t p = r.process(200, {{HUGESHIM_API_MALLOC, 201, kT0, kT0 + 100 * kMs, 0x7f0000000000, 1 << 30,
                                     {kMs, 99 * kMs, 0, 0}, HUGESHIM_PAGE_THP},
                                    {HUGESHIM_API_MALLOC, 202, kT0 + 10 * kMs, kT0 + 120 * kMs, 0x7f8000000000, 1 << 30,
                                     {kMs, 109 * kMs, 0, 0}, HUGESHIM_PAGE_THP}});
  const int64_t t = r.trace("present");
  r.kernel(t, kT0 + 20 * kMs, 202, 200, "compaction:mm_compaction_try_to_compact_pages", try_to_compact(9));
  r.kernel(t, kT0 + 20 * kMs + 1, 202, 200, "compaction:mm_compaction_begin", compaction_begin());
  r.kernel(t, kT0 + 30 * kMs, 201, 200, "compaction:mm_compaction_begin", compaction_begin());
  r.kernel(t, kT0 + 40 * kMs, 201, 200, "compaction:mm_compaction_end", compaction_end(8));   // success
  r.kernel(t, kT0 + 50 * kMs + 1, 202, 200, "compaction:mm_compaction_end", compaction_end(6));  // partial_skipped
  r.kernel(t, kT0 + 60 * kMs, 202, 200, "compaction:mm_compaction_begin", compaction_begin());
  r.kernel(t, kT0 + 62 * kMs, 202, 200, "compaction:mm_compaction_end", compaction_end(6));
  // kcompactd (another thread of no recorded process) compacts too: not ours.
  r.kernel(t, kT0 + 35 * kMs, 77, 2, "compaction:mm_compaction_begin", compaction_begin());
  r.kernel(t, kT0 + 36 * kMs, 77, 2, "compaction:mm_compaction_end", compaction_end(5));
  for (int i = 0; i < 3; ++i) r.kernel(t, kT0 + 70 * kMs + i, 202, 200, "kmem:mm_page_alloc", page_alloc(9));
  for (int i = 0; i < 512 * 7; ++i) r.kernel(t, kT0 + 80 * kMs + i, 202, 200, "kmem:mm_page_alloc", page_alloc(0));
  r.attribute();
  const json a = r.summary(p, 0), b = r.summary(p, 1);
  BOOST_CHECK_EQUAL(a["compaction_runs"], 1);
  BOOST_CHECK_EQUAL(a["compaction_ns"], 10 * kMs);
  BOOST_CHECK_EQUAL(a["compaction_status"], json({{"success", 1}}));
  BOOST_CHECK_EQUAL(b["compaction_runs"], 2);
  BOOST_CHECK_EQUAL(b["compaction_ns"], 32 * kMs);
  BOOST_CHECK_EQUAL(b["compaction_status"], json({{"partial_skipped", 2}}));
  BOOST_CHECK_EQUAL(b["compaction_stalls"], 1);
  BOOST_CHECK_EQUAL(b["pages_by_order"], json({{"0", 3584}, {"9", 3}}));
  BOOST_CHECK_EQUAL(b["huge_page_alloc_bytes"], 3 * k2M);
  BOOST_CHECK_EQUAL(b["page_alloc_bytes"], 3 * k2M + 3584 * k4K);
  const json ts = r.trace_summary(t);
  BOOST_CHECK_EQUAL(ts["not_attributed"], 2);  // kcompactd's pair
  BOOST_CHECK_EQUAL(ts["unpaired"], 0);
  const std::string text = r.text();
  BOOST_TEST_MESSAGE(text);
  BOOST_CHECK_NE(text.find("malloc 1.0 GiB (thp): populate 109.0 ms, 32.0 ms in direct compaction (2 runs, "
                           "'partial_skipped'), 1 direct compaction stall, 30% huge pages (of 20.0 MiB allocated)"),
                 std::string::npos);
  // Perfetto: the runs at their real times, inside the populate phase of
  // their own event, on their own thread.
  const json trace = r.perfetto();
  const auto runs = slices(trace, "compaction"), populate = slices(trace, "populate");
  BOOST_REQUIRE_EQUAL(runs.size(), 3u);
  for (const json& run : runs) {
    const int64_t tid = run["args"]["begin_ns"] == kT0 + 30 * kMs ? 201 : 202;
    BOOST_CHECK_EQUAL(run["tid"], tid);
    BOOST_CHECK_EQUAL(run["args"]["clipped"], false);
    BOOST_CHECK_CLOSE(run["dur"].get<double>(), static_cast<double>(run["args"]["end_ns"].get<int64_t>() -
                                                                    run["args"]["begin_ns"].get<int64_t>()) / 1000, 1e-6);
    bool inside = false;
    for (const json& phase : populate) inside = inside || nests(run, phase);
    BOOST_CHECK(inside);
  }
}

BOOST_AUTO_TEST_CASE(events_of_other_processes_are_not_attributed) {
  Recording r;
  // Process 300's event on thread 300; another pid namespace's process 999
  // has a thread with the same number, busy at the same time.
  const int64_t p = r.process(300, {{HUGESHIM_API_MALLOC, 300, kT0, kT0 + 10 * kMs, 0x7f0000000000, 64 << 20,
                                     {0, 10 * kMs, 0, 0}, HUGESHIM_PAGE_THP}});
  const int64_t t = r.trace("present");
  r.kernel(t, kT0 + kMs, 300, 999, "kmem:mm_page_alloc", page_alloc(9));
  r.kernel(t, kT0 + 2 * kMs, 300, 999, "exceptions:page_fault_user", fault(0x7f0000001000));
  r.kernel(t, kT0 + 3 * kMs, 300, 300, "kmem:mm_page_alloc", page_alloc(0));  // ours
  r.kernel(t, kT0 + 4 * kMs, 300, std::nullopt, "kmem:mm_page_alloc", page_alloc(0));  // pid unknown: one candidate
  r.kernel(t, kT0 + 20 * kMs, 300, 300, "kmem:mm_page_alloc", page_alloc(0));  // after the window
  r.kernel(t, kT0 + 5 * kMs, 301, 300, "kmem:mm_page_alloc", page_alloc(0));  // another thread of 300
  r.attribute();
  const json s = r.summary(p, 0);
  BOOST_CHECK_EQUAL(s["kernel_events"], 2);
  BOOST_CHECK_EQUAL(s["pages_by_order"], json({{"0", 2}}));
  BOOST_CHECK_EQUAL(s["faults_window"], 0);
  BOOST_CHECK_EQUAL(s["faults_address"], 0);
  BOOST_CHECK_EQUAL(r.trace_summary(t)["not_attributed"], 4);
  // A second recorded process with windows on the same tid number: without
  // a pid, an event in both windows is ambiguous and not attributed.
  const int64_t q = r.process(400, {{HUGESHIM_API_MALLOC, 300, kT0 + 5 * kMs, kT0 + 9 * kMs, 0x7e0000000000, 64 << 20,
                                     {0, 8 * kMs, 0, 0}, HUGESHIM_PAGE_THP}});
  r.kernel(t, kT0 + 6 * kMs, 300, std::nullopt, "kmem:mm_page_alloc", page_alloc(0));
  r.attribute();
  BOOST_CHECK_EQUAL(r.summary(p, 0)["kernel_events"], 2);
  BOOST_CHECK(r.summary(q, 0).is_null() || r.summary(q, 0)["kernel_events"] == 0);
  BOOST_CHECK_EQUAL(r.trace_summary(t)["not_attributed"], 5);
}

BOOST_AUTO_TEST_CASE(faults_count_by_address_after_the_allocation_returned_and_not_after_its_free) {
  Recording r;
  constexpr uint64_t kBase = 0x7f0000000000;
  // A lazily populated 64 MiB region on 2 MiB pages, freed at +50 ms;
  // another process maps the same address.
  const int64_t p = r.process(500, {{HUGESHIM_API_MALLOC, 500, kT0, kT0 + kMs, kBase, 64 << 20, {kMs, 0, 0, 0}},
                                    {HUGESHIM_API_FREE, 500, kT0 + 50 * kMs, kT0 + 51 * kMs, kBase, 64 << 20, {}}});
  r.process(600, {{HUGESHIM_API_MALLOC, 600, kT0, kT0 + kMs, kBase, 64 << 20, {kMs, 0, 0, 0}}});
  const int64_t t = r.trace("present");
  r.kernel(t, kT0 + kMs / 2, 501, 500, "exceptions:page_fault_user", fault(kBase + k2M));      // before it returned
  r.kernel(t, kT0 + 10 * kMs, 501, 500, "exceptions:page_fault_user", fault(kBase + 3 * k2M));  // lazy touch
  r.kernel(t, kT0 + 11 * kMs, 500, 500, "exceptions:page_fault_user", fault(kBase + 4 * k2M));  // lazy touch
  r.kernel(t, kT0 + 12 * kMs, 501, 500, "exceptions:page_fault_user", fault(kBase + (64 << 20)));  // past its end
  r.kernel(t, kT0 + 60 * kMs, 501, 500, "exceptions:page_fault_user", fault(kBase + 5 * k2M));  // after the free
  r.kernel(t, kT0 + 13 * kMs, 601, 600, "exceptions:page_fault_user", fault(kBase + 6 * k2M));  // process 600's
  r.attribute();
  const json s = r.summary(p, 0);
  BOOST_CHECK_EQUAL(s["faults_address"], 2);
  BOOST_CHECK_EQUAL(s["faults_window"], 0);
  BOOST_CHECK_EQUAL(s["faults_huge"], 2);  // the region is on 2 MiB pages
  BOOST_CHECK_EQUAL(s["timeline"]["lazy_fault"]["ts"], json({kT0 + 10 * kMs, kT0 + 11 * kMs}));
  const json ts = r.trace_summary(t);
  BOOST_CHECK_EQUAL(ts["address"], 3);  // two in 500's region, one in 600's
  BOOST_CHECK_EQUAL(ts["not_attributed"], 3);
  BOOST_CHECK_NE(r.text().find("faults: 0 during the call, 2 after it returned (by address), on huge pages"),
                 std::string::npos);
}

BOOST_AUTO_TEST_CASE(damaged_rows_are_skipped_and_counted) {
  Recording r;
  const int64_t p = r.process(700, {{HUGESHIM_API_CUDA_HOST_REGISTER, 700, kT0, kT0 + 10 * kMs, 0x7f0000000000,
                                     1 << 30, {0, 0, 0, 10 * kMs}}});
  const int64_t t = r.trace("present");
  r.kernel(t, kT0 + kMs, 700, 700, "iommu:map", std::string("{\"iova\": 1, \"size\""));   // cut short
  r.kernel(t, kT0 + kMs, 700, 700, "iommu:map", std::string("{\"iova\": 1, \"paddr\": 2}"));  // no size
  r.kernel(t, kT0 + kMs, 700, 700, "iommu:map", std::string("{\"iova\": 1, \"size\": \"2M\"}"));
  r.kernel(t, kT0 + kMs, 700, 700, "compaction:mm_compaction_end", std::string("[1, 2]"));
  r.kernel(t, kT0 + kMs, 700, 700, "exceptions:page_fault_user", std::string(""));
  r.kernel(t, kT0 + kMs, 700, 700, "iommu:map", std::string("{\"iova\": 1, \"paddr\": 2, \"size\": -4096}"));
  r.kernel(t, kT0 + 3 * kMs, 700, 700, "bad:\xff\xfe", std::string("{}"));  // not UTF-8: counted, never thrown on
  r.kernel(t, kT0 + 2 * kMs, 700, 700, "iommu:map", iommu_map(0x1000, k2M));
  r.kernel(t, kT0 + 3 * kMs, 700, 700, "huge_memory:mm_khugepaged_scan_pmd", std::string("{\"x\": 1}"));
  r.attribute();
  const json ts = r.trace_summary(t);
  BOOST_CHECK_EQUAL(ts["damaged"], 6);
  BOOST_CHECK_EQUAL(ts["examples"].size(), 5u);  // the first five
  BOOST_CHECK_EQUAL(ts["window"], 3);
  const json s = r.summary(p, 0);
  BOOST_CHECK_EQUAL(s["iommu_maps"], 1);
  BOOST_CHECK_EQUAL(s["other_events"]["huge_memory:mm_khugepaged_scan_pmd"], 1);
  BOOST_CHECK_EQUAL(s["other_events"].size(), 2u);
  const std::string text = r.text();
  BOOST_CHECK_NE(text.find("6 damaged rows skipped"), std::string::npos);
  BOOST_CHECK_NO_THROW(render_json(r.report()));
  BOOST_CHECK_NE(text.find("damaged: iommu:map: no non-negative integer field 'size'"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(attribution_is_idempotent_and_a_plain_recording_is_left_alone) {
  Recording plain;
  plain.process(800, {{HUGESHIM_API_MALLOC, 800, kT0, kT0 + kMs, 0x7f0000000000, 64 << 20, {kMs, 0, 0, 0}}});
  {
    Database db(plain.path(), Database::Mode::read_write);
    attribute_kernel_events(db);
    BOOST_CHECK(!table_exists(db, "kernel_summaries"));
  }
  BOOST_CHECK(!plain.report()["processes"][0].contains("kernel"));
  BOOST_CHECK(!plain.report().contains("kernel_traces"));
  BOOST_CHECK_EQUAL(plain.text().find("kernel"), std::string::npos);

  Recording r;
  r.process(810, {{HUGESHIM_API_MALLOC, 810, kT0, kT0 + 100 * kMs, 0x7f0000000000, 64 << 20, {kMs, 99 * kMs, 0, 0},
                   HUGESHIM_PAGE_THP}});
  const int64_t t = r.trace("present");
  r.kernel(t, kT0 + 2 * kMs, 810, 810, "compaction:mm_compaction_begin", compaction_begin());
  r.kernel(t, kT0 + 3 * kMs, 810, 810, "compaction:mm_compaction_end", compaction_end(3));
  for (int i = 0; i < 1000; ++i) r.kernel(t, kT0 + 4 * kMs + i * 1000, 810, 810, "exceptions:page_fault_user", fault(0x7f0000000000 + i * k4K));
  r.attribute();
  auto dump = [&] {
    Database db(r.path(), Database::Mode::read_only);
    std::string all;
    for (const char* table : {"kernel_summaries", "kernel_compactions", "kernel_trace_summaries"}) {
      Statement count = db.prepare(std::string("SELECT count(*) FROM pragma_table_info('") + table + "')");
      BOOST_REQUIRE(count.step());
      const int columns = static_cast<int>(count.int64(0));
      Statement q = db.prepare(std::string("SELECT * FROM ") + table);
      while (q.step())
        for (int c = 0; c < columns; ++c) all += (q.is_null(c) ? "NULL" : q.text(c)) + "|";
      all += "\n";
    }
    return all;
  };
  const std::string first = dump();
  {
    Database db(r.path(), Database::Mode::read_write);
    attribute_kernel_events(db);
  }
  BOOST_CHECK_EQUAL(dump(), first);
  BOOST_CHECK_NE(first.find("no_suitable_page"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_read_only_recording_without_summaries_is_attributed_for_the_reader_only) {
  Recording r;
  r.process(900, {{HUGESHIM_API_CUDA_HOST_REGISTER, 900, kT0, kT0 + 10 * kMs, 0x7f0000000000, 1 << 30,
                   {0, 0, 0, 10 * kMs}}});
  const int64_t t = r.trace("present");
  r.kernel(t, kT0 + 4 * kMs, 900, 900, "iommu:map", iommu_map(0x1000, k2M));
  r.kernel(t, kT0 + 6 * kMs, 900, 900, "iommu:map", iommu_map(0x201000, k2M));
  {
    Database db(r.path(), Database::Mode::read_write);
    r.flush(db);  // kernel events stored, no attribution (a recorder killed before it)
  }
  const json report = r.report();
  BOOST_REQUIRE(report["processes"][0].contains("kernel"));
  const json& e = report["processes"][0]["kernel"]["events"][0];
  BOOST_CHECK_EQUAL(e["pin_ns"], 4 * kMs);
  BOOST_CHECK_EQUAL(e["map_ns"], 2 * kMs);
  BOOST_CHECK_EQUAL(report["kernel_traces"][0]["events_by_window"], 2);
  BOOST_CHECK_EQUAL(report["kernel_traces"][0]["events_lost"], 3);
  BOOST_CHECK_EQUAL(report["kernel_traces"][0]["events_missing"], json({"huge_memory:mm_khugepaged_scan_pmd"}));
  Database db(r.path(), Database::Mode::read_only);
  Statement q = db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'kernel_summaries'");
  BOOST_REQUIRE(q.step());
  BOOST_CHECK_EQUAL(q.int64(0), 0);  // the file was not changed
}

BOOST_AUTO_TEST_CASE(report_formats_and_perfetto_show_the_split) {
  Recording r;
  const int64_t p = r.process(1000, {{HUGESHIM_API_CUDA_HOST_ALLOC, 1001, kT0, kT0 + 20 * kMs, 0x7f0000000000,
                                      uint64_t{16} << 30, {kMs, 5 * kMs, kMs, 12 * kMs}}});
  const int64_t t = r.trace("present");
  // 5000 maps: drawn as a rate counter, not 5000 instants.
  for (int i = 0; i < 5000; ++i)
    r.kernel(t, kT0 + 10 * kMs + i * 1000, 1001, 1000, "iommu:map", iommu_map(0x100000000 + i * k2M, k2M));
  r.kernel(t, kT0 + 3 * kMs, 1001, 1000, "compaction:mm_compaction_begin", compaction_begin());
  r.kernel(t, kT0 + 4 * kMs, 1001, 1000, "compaction:mm_compaction_end", compaction_end(5));
  r.attribute();
  (void)p;
  const json report = r.report();
  const json& e = report["processes"][0]["kernel"]["events"][0];
  BOOST_CHECK_EQUAL(e["register_split"], "iommu");
  BOOST_CHECK_EQUAL(e["pin_ns"], 3 * kMs);
  BOOST_CHECK_EQUAL(e["map_ns"], 4999 * 1000);
  BOOST_CHECK_EQUAL(e["text"], "cudaHostAlloc 16.0 GiB (2M): register 12.0 ms = pin 3.0 ms + IOMMU map 5.0 ms + after "
                               "the last map 4.0 ms (5000 maps of 2 MiB), populate 5.0 ms, 1.0 ms in direct compaction "
                               "(1 run, 'complete')");
  std::ostringstream json_out, csv_out;
  json_out << render_json(report);
  BOOST_CHECK_EQUAL(json::parse(json_out.str())["processes"][0]["kernel"]["events"][0]["pin_ns"], 3 * kMs);
  render_csv(report, csv_out);
  const std::string csv = csv_out.str();
  const size_t header = csv.find("\npid,exe,api,ring_pos,requested,page_class,populate_ns,register_ns,register_split,"
                                 "pin_ns,map_ns,");
  BOOST_REQUIRE_NE(header, std::string::npos);
  BOOST_CHECK_NE(csv.find("1000,\"/opt/app/server\",cudaHostAlloc,0,17179869184,2M,5000000,12000000,iommu,3000000,"
                          "4999000,"),
                 std::string::npos);

  const json trace = r.perfetto();
  const auto parent = slices(trace, "cudaHostAlloc"), reg = slices(trace, "register"), pin = slices(trace, "pin"),
             map = slices(trace, "iommu map"), populate = slices(trace, "populate"),
             compaction = slices(trace, "compaction");
  BOOST_REQUIRE_EQUAL(parent.size(), 1u);
  BOOST_REQUIRE_EQUAL(reg.size(), 1u);
  BOOST_REQUIRE_EQUAL(pin.size(), 1u);
  BOOST_REQUIRE_EQUAL(map.size(), 1u);
  BOOST_REQUIRE_EQUAL(compaction.size(), 1u);
  BOOST_CHECK(nests(reg[0], parent[0]));
  BOOST_CHECK(nests(pin[0], reg[0]));
  BOOST_CHECK(nests(map[0], reg[0]));
  BOOST_CHECK(nests(compaction[0], populate[0]));
  BOOST_CHECK_CLOSE(pin[0]["ts"].get<double>(), 7000.0, 1e-9);  // register from +7 ms (origin: the process start)
  BOOST_CHECK_CLOSE(pin[0]["dur"].get<double>(), 3000.0, 1e-9);
  BOOST_CHECK_CLOSE(map[0]["ts"].get<double>(), 10000.0, 1e-9);
  BOOST_CHECK_CLOSE(map[0]["dur"].get<double>(), 4999.0, 1e-9);
  BOOST_CHECK_EQUAL(map[0]["args"]["maps"], 5000);
  size_t instants = 0, counters = 0;
  for (const json& ev : trace["traceEvents"]) {
    if (ev["ph"] == "i" && ev["name"] == "iommu map") ++instants;
    if (ev["ph"] == "C" && ev["name"].get<std::string>().rfind("iommu maps per ms", 0) == 0) ++counters;
  }
  BOOST_CHECK_EQUAL(instants, 0u);
  BOOST_CHECK_GT(counters, 0u);
  BOOST_CHECK_LE(counters, 2 * 128u + 1);
}

BOOST_AUTO_TEST_CASE(compaction_status_names_follow_the_format_file) {
  std::ifstream in(std::string(HUGESHIM_SOURCE_DIR) +
                   "/tests/observability/fixtures/tracefs/compaction/mm_compaction_end/format");
  const std::string format((std::istreambuf_iterator<char>(in)), {});
  const size_t symbolic = format.find("__print_symbolic(REC->status");
  BOOST_REQUIRE_NE(symbolic, std::string::npos);
  const std::regex pair(R"re(\{(\d+), "([a-z_]+)"\})re");
  int checked = 0;
  for (auto it = std::sregex_iterator(format.begin() + static_cast<long>(symbolic), format.end(), pair);
       it != std::sregex_iterator(); ++it, ++checked)
    BOOST_CHECK_EQUAL(compaction_status_name(std::stoll((*it)[1])), (*it)[2].str());
  BOOST_CHECK_EQUAL(checked, 9);
  BOOST_CHECK_EQUAL(compaction_status_name(42), "status 42");
}

BOOST_AUTO_TEST_CASE(the_cli_reports_and_exports_a_kernel_recording) {
  Recording r;
  r.process(1100, {{HUGESHIM_API_CUDA_HOST_REGISTER, 1100, kT0, kT0 + 10 * kMs, 0x7f0000000000, 1 << 30,
                    {0, 0, 0, 10 * kMs}}});
  const int64_t t = r.trace("present");
  r.kernel(t, kT0 + 4 * kMs, 1100, 1100, "iommu:map", iommu_map(0x1000, k2M));
  r.kernel(t, kT0 + 6 * kMs, 1100, 1100, "iommu:map", iommu_map(0x201000, k2M));
  {
    Database db(r.path(), Database::Mode::read_write);
    r.flush(db);  // as a recorder killed before attributing leaves it
  }
  const std::string hugeshim = std::string(HUGESHIM_BIN_DIR) + "/hugeshim";
  auto run = [](const std::string& command) {
    FILE* p = popen(command.c_str(), "r");
    BOOST_REQUIRE(p);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    BOOST_CHECK_EQUAL(pclose(p), 0);
    return out;
  };
  const std::string text = run(hugeshim + " report " + r.path());
  BOOST_CHECK_NE(text.find("cudaHostRegister 1.0 GiB (2M): register 10.0 ms = pin 4.0 ms + IOMMU map 2.0 ms + after "
                           "the last map 4.0 ms (2 maps of 2 MiB)"),
                 std::string::npos);
  const json report = json::parse(run(hugeshim + " report --format json " + r.path()));
  BOOST_CHECK_EQUAL(report["processes"][0]["kernel"]["events"][0]["map_ns"], 2 * kMs);
  BOOST_CHECK_NE(run(hugeshim + " report --format csv " + r.path()).find(",iommu,4000000,2000000,"), std::string::npos);
  const json trace = json::parse(run(hugeshim + " export --format perfetto -o - " + r.path()));
  BOOST_CHECK_EQUAL(slices(trace, "pin").size(), 1u);
  BOOST_CHECK_EQUAL(slices(trace, "iommu map").size(), 1u);
}
