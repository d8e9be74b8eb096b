#include "top_view.h"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <map>

#include "hugeshim/events.h"

namespace hugeshim::collector {
namespace {

bool releases_memory(uint32_t api) {
  switch (api) {
    case HUGESHIM_API_FREE:
    case HUGESHIM_API_MUNMAP:
    case HUGESHIM_API_CUDA_FREE_HOST:
    case HUGESHIM_API_CUDA_HOST_UNREGISTER:
    case HUGESHIM_API_CU_MEM_FREE_HOST:
    case HUGESHIM_API_CU_MEM_HOST_UNREGISTER:
      return true;
    default:
      return false;
  }
}

// Allocations and registrations: not releases, not copies (HUGESHIM_CUPTI=1
// copy events map nothing).
bool allocates(uint32_t api) { return !releases_memory(api) && api != HUGESHIM_API_CUDA_MEMCPY; }

uint64_t bytes_total(const TopRow& r) { return r.bytes[0] + r.bytes[1] + r.bytes[2] + r.bytes[3]; }

// Compact units for narrow columns: "64M", "1.5G", "12ms".
std::string short_bytes(uint64_t n) {
  const char* units[] = {"B", "K", "M", "G", "T", "P"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  char buf[16];
  snprintf(buf, sizeof buf, v < 10 && u ? "%.1f%s" : "%.0f%s", v, units[u]);
  return buf;
}

std::string short_time(uint64_t ns) {
  char buf[16];
  if (ns == 0) return "0";
  if (ns < 1000000) snprintf(buf, sizeof buf, "%.0fus", static_cast<double>(ns) / 1e3);
  else if (ns < 10000000000ull) snprintf(buf, sizeof buf, "%.0fms", static_cast<double>(ns) / 1e6);
  else snprintf(buf, sizeof buf, "%.0fs", static_cast<double>(ns) / 1e9);
  return buf;
}

}  // namespace

std::optional<TopSortKey> top_sort_key_named(const std::string& name) {
  for (const auto& k : kTopSortKeys)
    if (name == k.name) return k.key;
  return std::nullopt;
}

std::optional<TopSortKey> top_sort_key_of_letter(char letter) {
  for (const auto& k : kTopSortKeys)
    if (letter == k.letter) return k.key;
  return std::nullopt;
}

const char* top_sort_key_name(TopSortKey key) {
  for (const auto& k : kTopSortKeys)
    if (key == k.key) return k.name;
  return "?";
}

std::vector<TopRow> top_rows(const DirectorySample& now, const DirectorySample* before) {
  std::map<std::string, const ProcessSample*> earlier;
  if (before)
    for (const ProcessSample& p : before->processes) earlier[p.segment] = &p;
  auto allocations = [](const RingTotals& t) {
    uint64_t n = 0;
    for (uint32_t api = 0; api < HUGESHIM_API_COUNT; ++api)
      if (allocates(api)) n += t.counters[api].events;
    return n;
  };
  std::vector<TopRow> rows;
  for (const ProcessSample& p : now.processes) {
    TopRow r;
    r.pid = p.identity.pid;
    r.state = p.state;
    r.exe = p.identity.exe;
    r.allocations = allocations(p.totals);
    for (uint32_t api = 0; api < HUGESHIM_API_COUNT; ++api) {
      const hugeshim_ring_api_counters& c = p.totals.counters[api];
      if (allocates(api))
        for (int page = 0; page < HUGESHIM_PAGE_COUNT; ++page) r.bytes[page] += c.page_bytes[page];
      for (uint32_t reason = HUGESHIM_FALLBACK_NONE + 1; reason < HUGESHIM_RING_FALLBACK_SLOTS; ++reason)
        r.fallbacks += c.fallbacks[reason];
      r.drops += c.records_dropped;
    }
    for (int page = 0; page < HUGESHIM_PAGE_COUNT; ++page) {
      r.populate_ns += p.totals.histograms[HUGESHIM_PHASE_POPULATE][page].sum_ns;
      r.register_ns += p.totals.histograms[HUGESHIM_PHASE_REGISTER][page].sum_ns;
    }
    if (auto e = earlier.find(p.segment); e != earlier.end()) {
      const double seconds = std::chrono::duration<double>(now.taken - before->taken).count();
      const uint64_t then = allocations(e->second->totals);
      if (seconds > 0) r.allocations_per_s = r.allocations >= then ? static_cast<double>(r.allocations - then) / seconds : 0.0;
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

void sort_top_rows(std::vector<TopRow>& rows, TopSortKey key) {
  auto value = [key](const TopRow& r) -> double {
    switch (key) {
      case TopSortKey::rate: return r.allocations_per_s.value_or(-1);
      case TopSortKey::events: return static_cast<double>(r.allocations);
      case TopSortKey::bytes: return static_cast<double>(bytes_total(r));
      case TopSortKey::populate: return static_cast<double>(r.populate_ns);
      case TopSortKey::register_time: return static_cast<double>(r.register_ns);
      case TopSortKey::fallbacks: return static_cast<double>(r.fallbacks);
      case TopSortKey::drops: return static_cast<double>(r.drops);
      case TopSortKey::pid: return -static_cast<double>(r.pid);  // ascending
    }
    return 0;
  };
  // Largest first; ties in pid order, so frames do not jitter.
  std::stable_sort(rows.begin(), rows.end(), [&](const TopRow& a, const TopRow& b) {
    const double va = value(a), vb = value(b);
    return va != vb ? va > vb : a.pid < b.pid;
  });
}

std::string render_top_frame(const std::vector<TopRow>& rows, TopSortKey key, const std::string& dir,
                             size_t refused, unsigned width, unsigned height) {
  std::vector<std::string> lines;
  std::string keys;
  for (const auto& k : kTopSortKeys) keys += std::string(1, k.letter) + "=" + k.name + " ";
  lines.push_back("hugeshim top  " + dir + "  " + std::to_string(rows.size()) + " process(es)" +
                  (refused ? ", " + std::to_string(refused) + " segment(s) unreadable" : "") + "  sort: " +
                  top_sort_key_name(key) + "  keys: " + keys + "q=quit");
  char line[512];
  snprintf(line, sizeof line, "%8s %-7s %8s %8s %7s %7s %7s %7s %9s %9s %7s %7s  %s", "PID", "STATE", "ALLOC/S",
           "ALLOCS", "1G", "2M", "THP", "BASE", "POPULATE", "REGISTER", "FALLBK", "DROPS", "EXE");
  lines.push_back(line);
  for (const TopRow& r : rows) {
    char rate[16] = "-";
    if (r.allocations_per_s) snprintf(rate, sizeof rate, "%.1f", *r.allocations_per_s);
    snprintf(line, sizeof line, "%8" PRId32 " %-7s %8s %8" PRIu64 " %7s %7s %7s %7s %9s %9s %7" PRIu64 " %7" PRIu64 "  ",
             r.pid, r.state.c_str(), rate, r.allocations, short_bytes(r.bytes[0]).c_str(),
             short_bytes(r.bytes[1]).c_str(), short_bytes(r.bytes[2]).c_str(), short_bytes(r.bytes[3]).c_str(),
             short_time(r.populate_ns).c_str(), short_time(r.register_ns).c_str(), r.fallbacks, r.drops);
    // The executable is the program's own bytes: control characters would
    // move the cursor, so they are shown as '?'.
    std::string exe = r.exe;
    for (char& c : exe)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    lines.push_back(line + exe);
  }
  if (rows.empty()) lines.push_back("(no ring segments: no process under the shim has written to this directory)");
  std::string frame;
  for (size_t i = 0; i < lines.size() && (height == 0 || i < height); ++i) {
    std::string& l = lines[i];
    if (width && l.size() > width) l.resize(width);
    frame += l + "\n";
  }
  return frame;
}

}  // namespace hugeshim::collector
