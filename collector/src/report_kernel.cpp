#include "report_kernel.h"

#include <cinttypes>
#include <cstdio>
#include <string>
#include <vector>

#include "kernel_attribution.h"
#include "report.h"

namespace hugeshim::collector {
namespace {

using nlohmann::json;

// Columns of one listed event, in the order of kSummaryColumns.
constexpr const char* kIntegerColumns[] = {
    "kernel_events",   "compaction_runs",  "compaction_ns",   "compaction_stalls", "page_alloc_bytes",
    "huge_page_alloc_bytes", "faults_window", "faults_address", "faults_huge",      "faults_base",
    "iommu_maps",      "iommu_map_bytes",  "iommu_maps_4k",   "iommu_maps_2m",     "iommu_maps_1g",
    "iommu_maps_other", "iommu_unmaps",    "dma_maps",        "dma_map_bytes",     "dma_unmaps"};
constexpr size_t kIntegerCount = std::size(kIntegerColumns);

std::string summary_columns() {
  std::string s = "e.ring_pos, e.api, e.requested, e.page_class, e.populate_ns, e.register_ns, k.compaction_status, "
                  "k.pages_by_order, k.register_split, k.pin_ns, k.map_ns";
  for (const char* c : kIntegerColumns) s += std::string(", k.") + c;
  return s;
}

json optional_int(const Statement& q, int column) { return q.is_null(column) ? json(nullptr) : json(q.int64(column)); }

std::string percent(double share) {
  char buf[16];
  snprintf(buf, sizeof buf, "%.0f%%", 100 * share);
  return buf;
}

// "8192 maps of 2 MiB", "1000 maps: 512 of 2 MiB, 488 of 4 KiB".
std::string map_sizes_text(const json& e) {
  const std::pair<const char*, const char*> sizes[] = {
      {"iommu_maps_2m", "2 MiB"}, {"iommu_maps_4k", "4 KiB"}, {"iommu_maps_1g", "1 GiB"}, {"iommu_maps_other", "other sizes"}};
  std::vector<std::string> parts;
  for (auto [key, name] : sizes)
    if (int64_t n = e[key].get<int64_t>()) parts.push_back(std::to_string(n) + " of " + name);
  const std::string total = std::to_string(e["iommu_maps"].get<int64_t>()) + " maps";
  if (parts.size() == 1) return total + parts[0].substr(parts[0].find(' '));
  std::string text = total + ":";
  for (size_t i = 0; i < parts.size(); ++i) text += (i ? ", " : " ") + parts[i];
  return text;
}

std::string register_text(const json& e) {
  const std::string split = e["register_split"].get<std::string>();
  const uint64_t reg = e["register_ns"].get<uint64_t>();
  std::string text = "register " + ns_text(reg);
  if (split == "no_iommu") return text + " (no IOMMU: register is pinning only)";
  if (split == "iommu_not_traced") return text + " (no IOMMU map events traced: register is pinning only)";
  if (split == "no_map_seen") return text + " (no map event inside the call)";
  const uint64_t pin = e["pin_ns"].get<uint64_t>(), map = e["map_ns"].get<uint64_t>();
  text += " = pin " + ns_text(pin) + (split == "iommu" ? " + IOMMU map " : " + DMA map ") + ns_text(map);
  if (reg > pin + map) text += " + after the last map " + ns_text(reg - pin - map);
  if (split == "iommu") return text + " (" + map_sizes_text(e) + ")";
  return text + " (" + std::to_string(e["dma_maps"].get<int64_t>()) + " DMA maps, " +
         bytes_text(e["dma_map_bytes"].get<int64_t>()) + ")";
}

// The line a person reads, e.g. "malloc 1.0 GiB (thp): populate 1.3 s,
// 840 ms in direct compaction (12 runs, 'partial_skipped'), 30% huge pages".
std::string event_text(const json& e) {
  std::vector<std::string> parts;
  if (!e["register_split"].is_null()) parts.push_back(register_text(e));
  // A program's own registration: phase populate is the shim's preparation.
  const bool own = e["api"] == "cudaHostRegister" || e["api"] == "cuMemHostRegister";
  if (e["populate_ns"].get<int64_t>() > 0)
    parts.push_back((own ? "prepare " : "populate ") + ns_text(e["populate_ns"].get<uint64_t>()));
  if (int64_t runs = e["compaction_runs"].get<int64_t>()) {
    std::string statuses;
    for (auto& [status, n] : e["compaction_status"].items())
      statuses += ", '" + status + "'" + (n.get<int64_t>() == runs ? "" : " x" + std::to_string(n.get<int64_t>()));
    parts.push_back(ns_text(e["compaction_ns"].get<uint64_t>()) + " in direct compaction (" + std::to_string(runs) +
                    (runs == 1 ? " run" : " runs") + statuses + ")");
  }
  if (int64_t stalls = e["compaction_stalls"].get<int64_t>())
    parts.push_back(std::to_string(stalls) + " direct compaction stall" + (stalls == 1 ? "" : "s"));
  if (int64_t bytes = e["page_alloc_bytes"].get<int64_t>())
    parts.push_back(percent(static_cast<double>(e["huge_page_alloc_bytes"].get<int64_t>()) / static_cast<double>(bytes)) +
                    " huge pages (of " + bytes_text(bytes) + " allocated)");
  const int64_t in_call = e["faults_window"].get<int64_t>(), after = e["faults_address"].get<int64_t>();
  if (in_call || after) {
    std::string faults = "faults: " + std::to_string(in_call) + " during the call";
    if (after) faults += ", " + std::to_string(after) + " after it returned (by address)";
    const int64_t huge = e["faults_huge"].get<int64_t>(), base = e["faults_base"].get<int64_t>();
    if (huge) faults += ", on huge pages";
    else if (base) faults += ", on base pages";
    parts.push_back(faults);
  }
  if (e["register_split"].is_null() && e["iommu_maps"].get<int64_t>()) parts.push_back(map_sizes_text(e));
  if (e["register_split"].is_null() && e["dma_maps"].get<int64_t>())
    parts.push_back(std::to_string(e["dma_maps"].get<int64_t>()) + " DMA maps");
  std::string text = e["api"].get<std::string>() + " " + bytes_text(e["requested"].get<int64_t>()) + " (" +
                     e["page_class"].get<std::string>() + ")";
  for (size_t i = 0; i < parts.size(); ++i) text += (i ? ", " : ": ") + parts[i];
  if (parts.empty()) text += ": " + std::to_string(e["kernel_events"].get<int64_t>()) + " kernel events";
  return text;
}

json parse_or(const std::string& text, json fallback) {
  json v = json::parse(text, nullptr, false);
  return v.is_discarded() ? fallback : v;
}

}  // namespace

json kernel_process_report(Database& db, int64_t process_id, size_t top) {
  if (!ensure_kernel_summaries(db)) return nullptr;
  json totals = json::object();
  {
    std::string sql = "SELECT count(*)";
    for (const char* c : kIntegerColumns) sql += std::string(", coalesce(sum(") + c + "), 0)";
    Statement q = db.prepare(sql + " FROM kernel_summaries WHERE process_id = ?1");
    q.bind(1, process_id);
    q.step();
    totals["events_with_kernel_activity"] = q.int64(0);
    for (size_t i = 0; i < kIntegerCount; ++i) totals[kIntegerColumns[i]] = q.int64(1 + static_cast<int>(i));
  }
  json events = json::array();
  // Most kernel time first: compaction plus, for registrations, the
  // register phase the split explains.
  Statement q = db.prepare("SELECT " + summary_columns() +
                           " FROM kernel_summaries k JOIN events e ON e.process_id = k.process_id AND "
                           "e.ring_pos = k.ring_pos WHERE k.process_id = ?1 ORDER BY k.compaction_ns + "
                           "CASE WHEN k.register_split IS NULL THEN 0 ELSE e.register_ns END DESC, "
                           "k.kernel_events DESC, e.ring_pos LIMIT ?2");
  q.bind(1, process_id).bind(2, static_cast<int64_t>(top));
  while (q.step()) {
    json e = {{"ring_pos", q.int64(0)},
              {"api", q.text(1)},
              {"requested", q.int64(2)},
              {"page_class", q.text(3)},
              {"populate_ns", q.int64(4)},
              {"register_ns", q.int64(5)},
              {"compaction_status", parse_or(q.text(6), json::object())},
              {"pages_by_order", parse_or(q.text(7), json::object())},
              {"register_split", q.is_null(8) ? json(nullptr) : json(q.text(8))},
              {"pin_ns", optional_int(q, 9)},
              {"map_ns", optional_int(q, 10)}};
    for (size_t i = 0; i < kIntegerCount; ++i) e[kIntegerColumns[i]] = q.int64(11 + static_cast<int>(i));
    e["text"] = event_text(e);
    events.push_back(std::move(e));
  }
  return {{"totals", totals}, {"events", events}};
}

json kernel_traces_report(Database& db) {
  if (!ensure_kernel_summaries(db)) return nullptr;
  json traces = json::array();
  Statement q = db.prepare(
      "SELECT t.id, t.started_ns, t.ended_ns, t.cpus, t.buffer_kb_per_cpu, t.events_enabled, t.events_missing, "
      "t.events_read, t.events_lost, t.iommu, s.events_by_window, s.events_by_address, s.events_not_attributed, "
      "s.events_damaged, s.compaction_unpaired, s.damaged_examples FROM kernel_trace t "
      "LEFT JOIN kernel_trace_summaries s ON s.trace_id = t.id ORDER BY t.id");
  while (q.step())
    traces.push_back({{"trace_id", q.int64(0)},
                      {"started_ns", q.int64(1)},
                      {"ended_ns", optional_int(q, 2)},
                      {"cpus", q.int64(3)},
                      {"buffer_kb_per_cpu", q.int64(4)},
                      {"events_enabled", parse_or(q.text(5), json::array())},
                      {"events_missing", parse_or(q.text(6), json::array())},
                      {"events_read", q.int64(7)},
                      {"events_lost", q.int64(8)},
                      {"iommu", q.text(9)},
                      {"events_by_window", q.int64(10)},
                      {"events_by_address", q.int64(11)},
                      {"events_not_attributed", q.int64(12)},
                      {"events_damaged", q.int64(13)},
                      {"compaction_unpaired", q.int64(14)},
                      {"damaged_examples", parse_or(q.text(15), json::array())}});
  return traces;
}

void render_kernel_text(const json& p, std::ostream& out) {
  if (!p.contains("kernel") || p["kernel"].is_null()) return;
  const json& k = p["kernel"];
  const json& t = k["totals"];
  out << "  kernel: " << t["events_with_kernel_activity"].get<int64_t>() << " events with kernel activity; "
      << t["compaction_runs"].get<int64_t>() << " compaction runs (" << ns_text(t["compaction_ns"].get<uint64_t>())
      << "), " << t["faults_window"].get<int64_t>() + t["faults_address"].get<int64_t>() << " faults ("
      << t["faults_address"].get<int64_t>() << " after the call, by address), " << t["iommu_maps"].get<int64_t>()
      << " IOMMU maps (" << bytes_text(t["iommu_map_bytes"].get<int64_t>()) << "), " << t["dma_maps"].get<int64_t>()
      << " DMA maps\n";
  for (const json& e : k["events"]) out << "    " << e["text"].get<std::string>() << "\n";
}

void render_kernel_traces_text(const json& report, std::ostream& out) {
  if (!report.contains("kernel_traces") || report["kernel_traces"].is_null()) return;
  for (const json& t : report["kernel_traces"]) {
    out << "kernel trace " << t["trace_id"].get<int64_t>() << ": " << t["events_read"].get<int64_t>()
        << " events read, " << t["events_lost"].get<int64_t>() << " lost; attributed " << t["events_by_window"].get<int64_t>()
        << " by thread and window, " << t["events_by_address"].get<int64_t>() << " by address; "
        << t["events_not_attributed"].get<int64_t>() << " not attributed; " << t["events_damaged"].get<int64_t>()
        << " damaged rows skipped; IOMMU " << t["iommu"].get<std::string>() << "\n";
    if (!t["events_missing"].empty()) {
      out << "  events missing on the host:";
      for (const json& m : t["events_missing"]) out << " " << (m.is_string() ? m.get<std::string>() : m.dump());
      out << "\n";
    }
    for (const json& d : t["damaged_examples"]) out << "  damaged: " << (d.is_string() ? d.get<std::string>() : d.dump()) << "\n";
  }
}

void render_kernel_csv(const json& report, std::ostream& out) {
  bool any = false;
  for (const json& p : report["processes"]) any = any || (p.contains("kernel") && !p["kernel"].is_null());
  if (!any) return;
  out << "\npid,exe,api,ring_pos,requested,page_class,populate_ns,register_ns,register_split,pin_ns,map_ns";
  for (const char* c : kIntegerColumns) out << "," << c;
  out << "\n";
  auto quoted = [](const std::string& s) {
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  auto cell = [](const json& v) { return v.is_null() ? std::string() : v.is_string() ? v.get<std::string>() : v.dump(); };
  for (const json& p : report["processes"]) {
    if (!p.contains("kernel") || p["kernel"].is_null()) continue;
    for (const json& e : p["kernel"]["events"]) {
      out << p["pid"].get<int64_t>() << "," << quoted(p["exe"].get<std::string>()) << "," << cell(e["api"]) << ","
          << cell(e["ring_pos"]) << "," << cell(e["requested"]) << "," << cell(e["page_class"]) << ","
          << cell(e["populate_ns"]) << "," << cell(e["register_ns"]) << "," << cell(e["register_split"]) << ","
          << cell(e["pin_ns"]) << "," << cell(e["map_ns"]);
      for (const char* c : kIntegerColumns) out << "," << cell(e[c]);
      out << "\n";
    }
  }
}

}  // namespace hugeshim::collector
