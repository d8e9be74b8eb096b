#include "report.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <string_view>
#include <tuple>
#include <vector>

#include "kernel_attribution.h"
#include "report_kernel.h"
#include "report_copies.h"

namespace hugeshim::collector {
namespace {

using nlohmann::json;

constexpr const char* kPageColumns[] = {"1G", "2M", "thp", "base"};
constexpr const char* kPhaseColumns[] = {"reserve", "populate", "lock", "register"};

// Nearest-rank percentile of sorted values.
uint64_t percentile(const std::vector<uint64_t>& sorted, double p) {
  size_t rank = static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size()) + 0.999999);
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

// Length of the valid UTF-8 sequence starting at s[i], 0 when there is
// none (Unicode table 3-7: no overlong forms, no surrogates, nothing above
// U+10FFFF).
size_t utf8_sequence(std::string_view s, size_t i) {
  auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char lead = at(i);
  if (lead < 0x80) return 1;
  size_t length;
  unsigned char low = 0x80, high = 0xBF;  // range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // overlong
    if (lead == 0xED) high = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;   // overlong
    if (lead == 0xF4) high = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + length > s.size() || at(i + 1) < low || at(i + 1) > high) return 0;
  for (size_t k = 2; k < length; ++k)
    if ((at(i + k) & 0xC0) != 0x80) return 0;
  return length;
}

// Stores program-supplied bytes under `key` as described in report.h.
void put_text(json& object, const std::string& key, const std::string& bytes) {
  std::string text;
  bool replaced = false;
  for (size_t i = 0; i < bytes.size();) {
    if (size_t n = utf8_sequence(bytes, i)) {
      text.append(bytes, i, n);
      i += n;
    } else {
      text += "\xEF\xBF\xBD";  // U+FFFD
      replaced = true;
      ++i;
    }
  }
  object[key] = text;
  if (!replaced) return;
  std::string hex;
  for (unsigned char c : bytes) {
    char digits[3];
    snprintf(digits, sizeof digits, "%02x", c);
    hex += digits;
  }
  object[key + "_hex"] = hex;
}

json event_json(Statement& q) {
  // Columns as selected by kEventColumns.
  json e = {{"api", q.text(0)},          {"tid", q.int64(1)},        {"address", q.int64(2)},
            {"requested", q.int64(3)},   {"mapped", q.int64(4)},     {"page_class", q.text(5)},
            {"duration_ns", q.int64(6)}, {"fallback", q.text(11)},   {"caller", q.int64(12)},
            {"caller_offset", q.int64(14)}, {"ring_pos", q.int64(15)}};
  if (q.is_null(13)) e["caller_module"] = nullptr;
  else put_text(e, "caller_module", q.text(13));
  json phases = json::object();
  for (int p = 0; p < 4; ++p) phases[kPhaseColumns[p]] = q.int64(7 + p);
  e["phase_ns"] = phases;
  return e;
}

constexpr const char* kEventColumns =
    "api, tid, address, requested, mapped, page_class, duration_ns, reserve_ns, populate_ns, lock_ns, "
    "register_ns, fallback, caller, caller_module, caller_offset, ring_pos";

json process_report(Database& db, int64_t id, size_t top) {
  json apis = json::array();
  std::map<std::string, int64_t> stored;
  {
    Statement q = db.prepare("SELECT api, count(*) FROM events WHERE process_id = ?1 GROUP BY api");
    q.bind(1, id);
    while (q.step()) stored[q.text(0)] = q.int64(1);
  }
  std::map<std::string, json> fallbacks;
  {
    Statement q = db.prepare(
        "SELECT api, reason, count FROM fallbacks WHERE process_id = ?1 AND reason != 'none' ORDER BY count DESC");
    q.bind(1, id);
    while (q.step()) fallbacks[q.text(0)][q.text(1)] = q.int64(2);
  }
  // Latency samples per (api, phase, page class); "call" is the whole call.
  std::map<std::tuple<std::string, std::string, std::string>, std::vector<uint64_t>> samples;
  {
    Statement q = db.prepare(
        "SELECT api, page_class, duration_ns, reserve_ns, populate_ns, lock_ns, register_ns FROM events "
        "WHERE process_id = ?1 AND api != 'cudaMemcpy'");  // copies: their own section
    q.bind(1, id);
    while (q.step()) {
      const std::string api = q.text(0), page = q.text(1);
      samples[{api, "call", page}].push_back(static_cast<uint64_t>(q.int64(2)));
      for (int p = 0; p < 4; ++p)
        if (int64_t d = q.int64(3 + p); d > 0) samples[{api, kPhaseColumns[p], page}].push_back(static_cast<uint64_t>(d));
    }
  }
  // The program's own registrations: the shim's preparation (phase populate,
  // outside the driver) against the forwarded call (phase register, inside).
  std::map<std::string, json> registrations;
  {
    Statement r = db.prepare(
        "SELECT api, count(*), sum(populate_ns > 0), sum(populate_ns), sum(register_ns) FROM events "
        "WHERE process_id = ?1 AND api IN ('cudaHostRegister', 'cuMemHostRegister') GROUP BY api");
    r.bind(1, id);
    while (r.step())
      registrations[r.text(0)] = {{"records", r.int64(1)}, {"prepared", r.int64(2)},
                                  {"populate_ns", r.int64(3)}, {"register_ns", r.int64(4)}};
  }
  Statement q = db.prepare(
      "SELECT api, events, bytes_requested, bytes_mapped, bytes_1g, bytes_2m, bytes_thp, bytes_base, "
      "records_written, records_dropped, small_calls FROM counters WHERE process_id = ?1 ORDER BY events DESC, api");
  q.bind(1, id);
  while (q.step()) {
    const std::string api = q.text(0);
    // Shares of the bytes whose page size is known: the shim's own regions
    // (sum == mapped) and observed foreign ranges (mapped == 0, e.g. an
    // application's cudaHostRegister of memory it allocated).
    double classified = 0;
    for (int c = 0; c < 4; ++c) classified += static_cast<double>(q.int64(4 + c));
    json coverage = json::object();
    for (int c = 0; c < 4; ++c)
      coverage[kPageColumns[c]] = classified > 0 ? static_cast<double>(q.int64(4 + c)) / classified : 0.0;
    if (api == kCopyApi) coverage = json::object();  // copies map nothing: no coverage
    json latency = json::array();
    for (auto& [key, values] : samples) {
      if (std::get<0>(key) != api) continue;
      std::sort(values.begin(), values.end());
      latency.push_back({{"phase", std::get<1>(key)}, {"page_class", std::get<2>(key)},
                         {"count", values.size()},   {"p50_ns", percentile(values, 50)},
                         {"p90_ns", percentile(values, 90)}, {"p99_ns", percentile(values, 99)},
                         {"p999_ns", percentile(values, 99.9)}, {"max_ns", values.back()}});
    }
    apis.push_back({{"api", api},
                    {"events", q.int64(1)},
                    {"records_stored", stored.count(api) ? stored[api] : 0},
                    {"records_written", q.int64(8)},
                    {"records_dropped", q.int64(9)},
                    {"small_calls", q.int64(10)},
                    {"bytes_requested", q.int64(2)},
                    {"bytes_mapped", q.int64(3)},
                    {"coverage", coverage},
                    {"fallbacks", fallbacks.count(api) ? fallbacks[api] : json::object()},
                    {"latency", latency}});
    if (registrations.count(api)) apis.back()["registration"] = registrations[api];
  }
  auto events_by = [&](const char* order) {
    json list = json::array();
    Statement e = db.prepare(std::string("SELECT ") + kEventColumns + " FROM events WHERE process_id = ?1 AND api != '" +
                             kCopyApi + "' ORDER BY " + order + " DESC, ring_pos LIMIT ?2");
    e.bind(1, id).bind(2, static_cast<int64_t>(top));
    while (e.step()) list.push_back(event_json(e));
    return list;
  };
  json skipped = json::object();
  {
    Statement s = db.prepare("SELECT reason, count(*) FROM skipped_slots WHERE process_id = ?1 GROUP BY reason");
    s.bind(1, id);
    while (s.step()) skipped[s.text(0)] = s.int64(1);
  }
  return {{"apis", apis}, {"skipped_slots", skipped}, {"largest", events_by("requested")},
          {"slowest", events_by("duration_ns")}};
}

}  // namespace

std::string bytes_text(int64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", v, units[u]);
  return buf;
}

std::string ns_text(uint64_t ns) {
  char buf[32];
  if (ns < 1000) snprintf(buf, sizeof buf, "%" PRIu64 " ns", ns);
  else if (ns < 1000000) snprintf(buf, sizeof buf, "%.1f us", static_cast<double>(ns) / 1e3);
  else if (ns < 1000000000) snprintf(buf, sizeof buf, "%.1f ms", static_cast<double>(ns) / 1e6);
  else snprintf(buf, sizeof buf, "%.2f s", static_cast<double>(ns) / 1e9);
  return buf;
}

std::string caller_text(const json& e) {
  char buf[64];
  if (e["caller_module"].is_null()) {
    snprintf(buf, sizeof buf, "0x%" PRIx64, e["caller"].get<uint64_t>());
    return buf;
  }
  std::string module = e["caller_module"].get<std::string>();
  module = module.substr(module.rfind('/') + 1);
  snprintf(buf, sizeof buf, "+0x%" PRIx64, e["caller_offset"].get<uint64_t>());
  return module + buf;
}

json build_report(Database& db, size_t top, int64_t after_process_id) {
  json processes = json::array();
  const bool kernel = ensure_kernel_summaries(db);  // a recording made with --kernel
  Statement q = db.prepare(
      "SELECT id, pid, ppid, exe, cmdline, state, start_realtime_ns, ring_capacity FROM processes WHERE id > ?1 "
      "ORDER BY id");
  q.bind(1, after_process_id);
  while (q.step()) {
    json p = process_report(db, q.int64(0), top);
    p["pid"] = q.int64(1);
    p["ppid"] = q.int64(2);
    put_text(p, "exe", q.text(3));
    put_text(p, "cmdline", q.text(4));
    p["state"] = q.text(5);
    p["start_realtime_ns"] = q.int64(6);
    p["ring_capacity"] = q.int64(7);
    if (kernel) p["kernel"] = kernel_process_report(db, q.int64(0), top);
    if (json copies = copy_report(db, q.int64(0)); !copies.is_null()) p["copies"] = std::move(copies);
    processes.push_back(std::move(p));
  }
  json report = {{"schema", "hugeshim-report/1"}, {"processes", processes}};
  if (kernel) report["kernel_traces"] = kernel_traces_report(db);
  return report;
}

std::string render_json(const json& report) { return report.dump(2, ' ', false, json::error_handler_t::replace); }

void render_text(const json& report, std::ostream& out) {
  char line[512];
  for (const json& p : report["processes"]) {
    out << "process " << p["pid"].get<int64_t>() << " " << p["exe"].get<std::string>() << " ["
        << p["state"].get<std::string>() << "]\n  cmdline: " << p["cmdline"].get<std::string>() << "\n";
    for (auto& [reason, count] : p["skipped_slots"].items())
      out << "  skipped slots: " << count.get<int64_t>() << " (" << reason << ")\n";
    if (p["apis"].empty()) {
      out << "  no calls recorded\n\n";
      continue;
    }
    snprintf(line, sizeof line, "  %-20s %8s %8s %8s %10s %11s %11s %6s %6s %6s %6s\n", "api", "events", "stored",
             "dropped", "small", "requested", "mapped", "1G", "2M", "thp", "base");
    out << line;
    for (const json& a : p["apis"]) {
      const json& c = a["coverage"];
      if (c.empty()) {  // copies
        snprintf(line, sizeof line, "  %-20s %8" PRId64 " %8" PRId64 " %8" PRId64 " %10s %11s\n", a["api"].get<std::string>().c_str(),
                 a["events"].get<int64_t>(), a["records_stored"].get<int64_t>(), a["records_dropped"].get<int64_t>(), "",
                 bytes_text(a["bytes_requested"].get<int64_t>()).c_str());
        out << line;
        continue;
      }
      snprintf(line, sizeof line, "  %-20s %8" PRId64 " %8" PRId64 " %8" PRId64 " %10" PRId64 " %11s %11s %5.1f%% %5.1f%% %5.1f%% %5.1f%%\n",
               a["api"].get<std::string>().c_str(), a["events"].get<int64_t>(), a["records_stored"].get<int64_t>(),
               a["records_dropped"].get<int64_t>(), a["small_calls"].get<int64_t>(),
               bytes_text(a["bytes_requested"].get<int64_t>()).c_str(), bytes_text(a["bytes_mapped"].get<int64_t>()).c_str(),
               100 * c["1G"].get<double>(), 100 * c["2M"].get<double>(), 100 * c["thp"].get<double>(),
               100 * c["base"].get<double>());
      out << line;
    }
    bool any_fallback = false;
    for (const json& a : p["apis"])
      for (auto& [reason, count] : a["fallbacks"].items()) {
        if (!any_fallback) out << "  fallbacks:\n";
        any_fallback = true;
        out << "    " << a["api"].get<std::string>() << " " << reason << ": " << count.get<int64_t>() << "\n";
      }
    for (const json& a : p["apis"]) {
      if (!a.contains("registration")) continue;
      const json& r = a["registration"];
      uint64_t prep = r["populate_ns"].get<uint64_t>(), reg = r["register_ns"].get<uint64_t>();
      snprintf(line, sizeof line,
               "  %s: %" PRId64 " recorded, %" PRId64 " prepared; prepared outside the driver: %s of %s (%.0f%%), "
               "inside the driver: %s\n",
               a["api"].get<std::string>().c_str(), r["records"].get<int64_t>(), r["prepared"].get<int64_t>(),
               ns_text(prep).c_str(), ns_text(prep + reg).c_str(),
               prep + reg ? 100.0 * static_cast<double>(prep) / static_cast<double>(prep + reg) : 0.0,
               ns_text(reg).c_str());
      out << line;
    }
    out << "  latency:\n";
    snprintf(line, sizeof line, "    %-20s %-9s %-5s %7s %10s %10s %10s %10s %10s\n", "api", "phase", "page", "count",
             "p50", "p90", "p99", "p99.9", "max");
    out << line;
    for (const json& a : p["apis"])
      for (const json& l : a["latency"]) {
        snprintf(line, sizeof line, "    %-20s %-9s %-5s %7" PRIu64 " %10s %10s %10s %10s %10s\n",
                 a["api"].get<std::string>().c_str(), l["phase"].get<std::string>().c_str(),
                 l["page_class"].get<std::string>().c_str(), l["count"].get<uint64_t>(),
                 ns_text(l["p50_ns"]).c_str(), ns_text(l["p90_ns"]).c_str(), ns_text(l["p99_ns"]).c_str(),
                 ns_text(l["p999_ns"]).c_str(), ns_text(l["max_ns"]).c_str());
        out << line;
      }
    if (p.contains("copies")) render_copies_text(p["copies"], out);
    for (const char* list : {"largest", "slowest"}) {
      out << "  " << list << " events:\n";
      for (const json& e : p[list]) {
        snprintf(line, sizeof line, "    %-16s %11s on %-4s %10s  fallback %-15s caller %s\n",
                 e["api"].get<std::string>().c_str(), bytes_text(e["requested"].get<int64_t>()).c_str(),
                 e["page_class"].get<std::string>().c_str(), ns_text(e["duration_ns"]).c_str(),
                 e["fallback"].get<std::string>().c_str(), caller_text(e).c_str());
        out << line;
      }
    }
    render_kernel_text(p, out);
    out << "\n";
  }
  if (report["processes"].empty()) out << "no processes recorded\n";
  render_kernel_traces_text(report, out);
}

void render_csv(const json& report, std::ostream& out) {
  // One row per process x API x (phase, page class); API columns repeat.
  out << "pid,exe,api,events,records_stored,records_dropped,small_calls,bytes_requested,bytes_mapped,"
         "share_1g,share_2m,share_thp,share_base,phase,page_class,count,p50_ns,p90_ns,p99_ns,p999_ns,max_ns\n";
  auto quoted = [](std::string s) {
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  for (const json& p : report["processes"])
    for (const json& a : p["apis"]) {
      std::string prefix = std::to_string(p["pid"].get<int64_t>()) + "," + quoted(p["exe"]) + "," +
                           a["api"].get<std::string>() + ",";
      for (const char* k : {"events", "records_stored", "records_dropped", "small_calls", "bytes_requested", "bytes_mapped"})
        prefix += std::to_string(a[k].get<int64_t>()) + ",";
      for (const char* c : kPageColumns)
        prefix += a["coverage"].contains(c) ? std::to_string(a["coverage"][c].get<double>()) + "," : ",";
      if (a["latency"].empty()) out << prefix << ",,,,,,,\n";
      for (const json& l : a["latency"]) {
        out << prefix << l["phase"].get<std::string>() << "," << l["page_class"].get<std::string>() << ","
            << l["count"].get<uint64_t>();
        for (const char* k : {"p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns"}) out << "," << l[k].get<uint64_t>();
        out << "\n";
      }
    }
  render_kernel_csv(report, out);
  render_copies_csv(report, out);
}

}  // namespace hugeshim::collector
