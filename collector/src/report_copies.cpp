#include "report_copies.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "hugeshim/events.h"
#include "report.h"

namespace hugeshim::collector {
namespace {

using nlohmann::json;

constexpr int64_t kMiB = int64_t{1} << 20;
constexpr double kGiB = static_cast<double>(int64_t{1} << 30);

struct SizeClass {
  const char* name;
  int64_t min_bytes, max_bytes;  // [min, max); max 0: no upper bound
};
constexpr SizeClass kSizeClasses[] = {
    {"<1 MiB", 0, kMiB}, {"1-16 MiB", kMiB, 16 * kMiB}, {"16-256 MiB", 16 * kMiB, 256 * kMiB}, {">=256 MiB", 256 * kMiB, 0}};

size_t size_class_of(int64_t bytes) {
  for (size_t i = 0; i + 1 < std::size(kSizeClasses); ++i)
    if (bytes < kSizeClasses[i].max_bytes) return i;
  return std::size(kSizeClasses) - 1;
}

// A pinned buffer: a successful pinning call, alive from its start until the
// start of the first release of its address after it (or for ever).
struct Buffer {
  uint64_t address, bytes;  // unsigned: a damaged recording's values cannot overflow the range tests
  int64_t alive_from, alive_to;
  int64_t register_ns, total_ns;
  int64_t ring_pos;
};

bool pins(const std::string& api) {
  static const std::set<std::string> apis = {"cudaHostAlloc", "cudaMallocHost", "cudaHostRegister",
                                             "cuMemHostAlloc", "cuMemAllocHost", "cuMemHostRegister"};
  return apis.count(api) > 0;
}

bool unpins(const std::string& api) {
  static const std::set<std::string> apis = {"cudaFreeHost", "cuMemFreeHost", "cudaHostUnregister",
                                             "cuMemHostUnregister"};
  return apis.count(api) > 0;
}

// The process's pinned buffers, ordered by address, then start.
std::vector<Buffer> read_buffers(Database& db, int64_t process_id) {
  std::vector<Buffer> buffers;
  std::map<int64_t, size_t> live;  // address -> index of the buffer not yet released there
  Statement q = db.prepare(
      "SELECT api, address, requested, start_ns, register_ns, duration_ns, flags, result, ring_pos FROM events "
      "WHERE process_id = ?1 AND api IN ('cudaHostAlloc', 'cudaMallocHost', 'cudaHostRegister', 'cuMemHostAlloc', "
      "'cuMemAllocHost', 'cuMemHostRegister', 'cudaFreeHost', 'cuMemFreeHost', 'cudaHostUnregister', "
      "'cuMemHostUnregister') AND start_ns IS NOT NULL ORDER BY start_ns, ring_pos");
  q.bind(1, process_id);
  while (q.step()) {
    const std::string api = q.text(0);
    const int64_t address = q.int64(1), start = q.int64(3);
    const bool failed = q.int64(7) != 0 || (q.int64(6) & HUGESHIM_EVENT_FAILED);
    if (failed || address == 0) continue;  // (compared as stored: only equality)
    if (unpins(api)) {
      if (auto it = live.find(address); it != live.end()) {
        buffers[it->second].alive_to = start;
        live.erase(it);
      }
      continue;
    }
    if (!pins(api) || q.int64(2) <= 0) continue;
    // A new pin at a live buffer's address (a release the ring dropped)
    // ends the old one.
    if (auto it = live.find(address); it != live.end()) buffers[it->second].alive_to = start;
    live[address] = buffers.size();
    buffers.push_back({static_cast<uint64_t>(address), static_cast<uint64_t>(q.int64(2)), start,
                       std::numeric_limits<int64_t>::max(), q.int64(4), q.int64(5), q.int64(8)});
  }
  std::sort(buffers.begin(), buffers.end(), [](const Buffer& a, const Buffer& b) {
    return std::tie(a.address, a.alive_from) < std::tie(b.address, b.alive_from);
  });
  return buffers;
}

// The buffer holding `address` at `time` (the latest pinned of several), or null.
const Buffer* containing_buffer(const std::vector<Buffer>& buffers, uint64_t longest, uint64_t address, int64_t time) {
  if (address == 0) return nullptr;
  auto it = std::upper_bound(buffers.begin(), buffers.end(), address,
                             [](uint64_t a, const Buffer& b) { return a < b.address; });
  const Buffer* best = nullptr;
  while (it != buffers.begin()) {
    --it;  // it->address <= address
    if (address - it->address >= longest) break;  // no buffer at or before it reaches this far
    const bool holds = address - it->address < it->bytes && it->alive_from <= time && time < it->alive_to;
    if (holds && (!best || it->alive_from > best->alive_from)) best = &*it;
  }
  return best;
}

// Nearest-rank percentile of values sorted in the order that puts the tail last.
double nearest_rank(const std::vector<double>& sorted, double p) {
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

struct ClassSamples {
  int64_t count = 0, bytes = 0, untimed = 0, joined = 0;
  std::vector<double> gbps;
  std::set<int64_t> buffers;  // ring_pos of the joined buffers
};

bool has_copy_columns(Database& db) {
  Statement q = db.prepare("SELECT count(*) FROM pragma_table_info('events') WHERE name = 'host_memory'");
  return q.step() && q.int64(0) > 0;
}

std::string gbps_text(const json& v) {
  if (v.is_null()) return "-";
  char buf[32];
  snprintf(buf, sizeof buf, "%.1f", v.get<double>());
  return buf;
}

std::string per_gib_text(const json& v) { return v.is_null() ? "-" : ns_text(v.get<uint64_t>()) + "/GiB"; }

}  // namespace

double copy_gbps(int64_t bytes, int64_t ns) {
  // bytes per nanosecond == 10^9 bytes per second
  return ns > 0 ? static_cast<double>(bytes) / static_cast<double>(ns) : 0.0;
}

std::string copy_backing(const std::string& host_memory, int64_t flags, const int64_t page_bytes[4]) {
  if (host_memory != "pinned") return host_memory;  // pageable, managed, unknown
  if (!(flags & HUGESHIM_EVENT_REDIRECTED)) return "pinned/native";
  uint64_t bytes[HUGESHIM_PAGE_COUNT];
  bool known = false;
  for (int c = 0; c < HUGESHIM_PAGE_COUNT; ++c) {
    bytes[c] = page_bytes[c] > 0 ? static_cast<uint64_t>(page_bytes[c]) : 0;
    known = known || bytes[c] > 0;
  }
  if (!known) return "pinned/shim";
  return std::string("pinned/") + hugeshim_page_class_name(hugeshim_dominant_page_class(bytes));
}

json copy_report(Database& db, int64_t process_id) {
  if (!has_copy_columns(db)) return nullptr;
  const std::vector<Buffer> buffers = read_buffers(db, process_id);
  uint64_t longest = 0;
  for (const Buffer& b : buffers) longest = std::max(longest, b.bytes);
  // Classes in a fixed order: direction, size class, backing.
  std::map<std::tuple<std::string, size_t, std::string>, ClassSamples> classes;
  std::map<std::string, std::pair<int64_t, int64_t>> by_direction;  // bytes, of them pageable
  std::map<int64_t, const Buffer*> buffer_at;                         // ring_pos -> buffer
  int64_t count = 0, bytes = 0;
  Statement q = db.prepare(
      "SELECT copy_kind, host_memory, flags, requested, start_ns, end_ns, address, bytes_1g, bytes_2m, bytes_thp, "
      "bytes_base FROM events WHERE process_id = ?1 AND api = ?2");
  q.bind(1, process_id).bind(2, kCopyApi);
  while (q.step()) {
    const std::string direction = q.is_null(0) ? "unknown" : q.text(0);
    const std::string memory = q.is_null(1) ? "unknown" : q.text(1);
    const int64_t n = std::max<int64_t>(q.int64(3), 0), start = q.int64(4), end = q.int64(5);
    const int64_t page_bytes[4] = {q.int64(7), q.int64(8), q.int64(9), q.int64(10)};
    ClassSamples& c = classes[{direction, size_class_of(n), copy_backing(memory, q.int64(2), page_bytes)}];
    ++count;
    bytes += n;
    ++c.count;
    c.bytes += n;
    if (end > start) c.gbps.push_back(copy_gbps(n, end - start));
    else ++c.untimed;
    auto& [direction_bytes, pageable] = by_direction[direction];
    direction_bytes += n;
    if (memory == "pageable") pageable += n;
    if (const Buffer* b = containing_buffer(buffers, longest, static_cast<uint64_t>(q.int64(6)), start)) {
      ++c.joined;
      c.buffers.insert(b->ring_pos);
      buffer_at[b->ring_pos] = b;
    }
  }
  if (count == 0) return nullptr;
  json rows = json::array();
  for (auto& [key, c] : classes) {
    const auto& [direction, size, backing] = key;
    json row = {{"direction", direction},
                {"size_class", kSizeClasses[size].name},
                {"min_bytes", kSizeClasses[size].min_bytes},
                {"max_bytes", kSizeClasses[size].max_bytes ? json(kSizeClasses[size].max_bytes) : json(nullptr)},
                {"backing", backing},
                {"count", c.count},
                {"bytes", c.bytes},
                {"untimed", c.untimed},
                {"p50_gbps", nullptr},
                {"p99_gbps", nullptr},
                {"min_gbps", nullptr},
                {"max_gbps", nullptr}};
    if (!c.gbps.empty()) {
      std::sort(c.gbps.begin(), c.gbps.end());
      row["p50_gbps"] = nearest_rank(c.gbps, 50);
      row["min_gbps"] = c.gbps.front();
      row["max_gbps"] = c.gbps.back();
      std::reverse(c.gbps.begin(), c.gbps.end());  // fastest first: the slow tail last
      row["p99_gbps"] = nearest_rank(c.gbps, 99);
    }
    int64_t pinned_bytes = 0, register_ns = 0, total_ns = 0;
    for (int64_t pos : c.buffers) {
      const Buffer* b = buffer_at[pos];
      pinned_bytes += static_cast<int64_t>(b->bytes);
      register_ns += b->register_ns;
      total_ns += b->total_ns;
    }
    const double gib = static_cast<double>(pinned_bytes) / kGiB;
    row["pin"] = {{"copies_joined", c.joined},
                  {"buffers", c.buffers.size()},
                  {"buffer_bytes", pinned_bytes},
                  {"register_ns", register_ns},
                  {"total_ns", total_ns},
                  {"register_ns_per_gib", gib > 0 ? json(std::llround(static_cast<double>(register_ns) / gib)) : json(nullptr)},
                  {"total_ns_per_gib", gib > 0 ? json(std::llround(static_cast<double>(total_ns) / gib)) : json(nullptr)}};
    rows.push_back(std::move(row));
  }
  json pageable = json::array();
  for (const auto& [direction, sums] : by_direction)
    pageable.push_back({{"direction", direction},
                        {"bytes", sums.first},
                        {"pageable_bytes", sums.second},
                        {"share", sums.first > 0 ? static_cast<double>(sums.second) / static_cast<double>(sums.first) : 0.0}});
  return {{"count", count},
          {"bytes", bytes},
          {"bandwidth_unit", "GB/s (10^9 bytes/s) = bytes / (copy end - copy start) on the GPU"},
          {"pageable", pageable},
          {"classes", rows}};
}

void render_copies_text(const json& copies, std::ostream& out) {
  char line[512];
  snprintf(line, sizeof line,
           "  copies (CUPTI): %" PRId64 " host<->device copies, %s; GB/s = 10^9 bytes/s over each copy's time on "
           "the GPU; p99: 99%% of the copies were at least this fast\n",
           copies["count"].get<int64_t>(), bytes_text(copies["bytes"].get<int64_t>()).c_str());
  out << line;
  for (const json& d : copies["pageable"]) {
    snprintf(line, sizeof line, "    %.0f%% of %s bytes came from pageable memory%s\n", 100 * d["share"].get<double>(),
             d["direction"].get<std::string>().c_str(),
             d["pageable_bytes"].get<int64_t>() > 0 ? ": the driver staged them" : "");
    out << line;
  }
  snprintf(line, sizeof line, "    %-7s %-10s %-13s %7s %11s %7s %7s %7s  %s\n", "dir", "size", "backing", "count",
           "bytes", "p50", "p99", "min", "pin cost of the same buffers");
  out << line;
  for (const json& c : copies["classes"]) {
    const json& pin = c["pin"];
    std::string cost = "-";
    if (pin["buffers"].get<int64_t>() > 0)
      cost = "register " + per_gib_text(pin["register_ns_per_gib"]) + ", whole call " +
             per_gib_text(pin["total_ns_per_gib"]) + " (" + std::to_string(pin["buffers"].get<int64_t>()) +
             " buffer" + (pin["buffers"].get<int64_t>() == 1 ? "" : "s") + ", " +
             bytes_text(pin["buffer_bytes"].get<int64_t>()) + "; " + std::to_string(pin["copies_joined"].get<int64_t>()) +
             " of " + std::to_string(c["count"].get<int64_t>()) + " copies)";
    snprintf(line, sizeof line, "    %-7s %-10s %-13s %7" PRId64 " %11s %7s %7s %7s  %s\n",
             c["direction"].get<std::string>().c_str(), c["size_class"].get<std::string>().c_str(),
             c["backing"].get<std::string>().c_str(), c["count"].get<int64_t>(),
             bytes_text(c["bytes"].get<int64_t>()).c_str(), gbps_text(c["p50_gbps"]).c_str(),
             gbps_text(c["p99_gbps"]).c_str(), gbps_text(c["min_gbps"]).c_str(), cost.c_str());
    out << line;
  }
}

void render_copies_csv(const json& report, std::ostream& out) {
  bool header = false;
  auto number = [](const json& v) { return v.is_null() ? std::string() : v.dump(); };
  for (const json& p : report["processes"]) {
    if (!p.contains("copies") || p["copies"].is_null()) continue;
    if (!header) {
      out << "\npid,exe,direction,size_class,min_bytes,max_bytes,backing,count,bytes,untimed,p50_gbps,p99_gbps,"
             "min_gbps,max_gbps,pin_buffers,pin_buffer_bytes,register_ns_per_gib,total_ns_per_gib,copies_joined\n";
      header = true;
    }
    std::string exe = "\"";
    for (char ch : p["exe"].get<std::string>()) exe += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    exe += "\"";
    for (const json& c : p["copies"]["classes"]) {
      const json& pin = c["pin"];
      out << p["pid"].get<int64_t>() << "," << exe << "," << c["direction"].get<std::string>() << ",\""
          << c["size_class"].get<std::string>() << "\"," << number(c["min_bytes"]) << "," << number(c["max_bytes"])
          << "," << c["backing"].get<std::string>() << "," << number(c["count"]) << "," << number(c["bytes"]) << ","
          << number(c["untimed"]);
      for (const char* k : {"p50_gbps", "p99_gbps", "min_gbps", "max_gbps"}) out << "," << number(c[k]);
      out << "," << number(pin["buffers"]) << "," << number(pin["buffer_bytes"]) << ","
          << number(pin["register_ns_per_gib"]) << "," << number(pin["total_ns_per_gib"]) << ","
          << number(pin["copies_joined"]) << "\n";
    }
  }
}

}  // namespace hugeshim::collector
