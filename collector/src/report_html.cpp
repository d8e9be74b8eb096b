#include "report_html.h"

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include "report.h"
#include "report_copies.h"

namespace hugeshim::collector {
namespace {

using nlohmann::json;

constexpr const char* kPageClasses[] = {"1G", "2M", "thp", "base"};
const char* const* kPageColours = kChartDataColours;  // 1G, 2M, THP, base
const char* const kFallbackColour = kChartDataColours[4];
constexpr const char* kPhases[] = {"reserve", "populate", "lock", "register"};

// Calls that give memory back: not part of the bytes a process mapped.
constexpr const char* kReleaseApis[] = {"free", "munmap", "cudaFreeHost", "cuMemFreeHost", "cudaHostUnregister",
                                        "cuMemHostUnregister"};

bool releases_memory(const std::string& api) {
  return std::find(std::begin(kReleaseApis), std::end(kReleaseApis), api) != std::end(kReleaseApis);
}

constexpr int kChartWidth = 1080;
constexpr int kLabelWidth = 220;  // left column of row labels
constexpr int kMaxTimelineLanes = 40;
constexpr int kMaxTimelineEvents = 5000;
constexpr size_t kSlowestShown = 20;

int page_index(const std::string& page) {
  for (int c = 0; c < 4; ++c)
    if (page == kPageClasses[c]) return c;
  return 3;
}

std::string fmt(const char* format, double value) {
  char buf[64];
  snprintf(buf, sizeof buf, format, value);
  return buf;
}

std::string px(double v) { return fmt("%.1f", v); }

std::string basename_of(const std::string& path) { return path.substr(path.rfind('/') + 1); }

// The chart's <svg> with its frame; `close_chart` ends it.
void open_chart(std::ostream& out, const char* id, int index, int height, const std::string& description) {
  out << "<svg class=\"chart\" id=\"chart-" << id << "\" width=\"" << kChartWidth << "\" height=\"" << height
      << "\" viewBox=\"0 0 " << kChartWidth << ' ' << height << "\" role=\"img\" aria-label=\""
      << html_escape(description) << "\">\n"
      << "<rect x=\"0.5\" y=\"0.5\" width=\"" << kChartWidth - 1 << "\" height=\"" << height - 1
      << "\" fill=\"#ffffff\" stroke=\"" << kChartFrameColours[index] << "\" shape-rendering=\"crispEdges\"/>\n";
}

void close_chart(std::ostream& out) { out << "</svg>\n"; }

void text(std::ostream& out, double x, double y, const std::string& content, const char* anchor = "start",
          const char* extra = "") {
  out << "<text x=\"" << px(x) << "\" y=\"" << px(y) << "\" text-anchor=\"" << anchor << "\"" << extra << ">"
      << html_escape(content) << "</text>\n";
}

void rect(std::ostream& out, double x, double y, double w, double h, const char* colour,
          const std::string& title = "") {
  out << "<rect x=\"" << px(x) << "\" y=\"" << px(y) << "\" width=\"" << px(w) << "\" height=\"" << px(h)
      << "\" fill=\"" << colour << "\" shape-rendering=\"crispEdges\"";
  if (title.empty()) {
    out << "/>\n";
  } else {
    out << "><title>" << html_escape(title) << "</title></rect>\n";
  }
}

void legend(std::ostream& out, double x, double y) {
  for (int c = 0; c < 4; ++c) {
    rect(out, x + c * 90, y - 10, 12, 12, kPageColours[c]);
    text(out, x + c * 90 + 16, y, kPageClasses[c]);
  }
}

void empty_note(std::ostream& out, int height, const std::string& what) {
  text(out, kChartWidth / 2.0, height / 2.0 + 5, what, "middle", " class=\"empty\"");
}

// Latency: one row per (phase, page class) that ran, bars over log2 buckets.
void latency_chart(std::ostream& out, Database& db) {
  std::map<std::pair<int, int>, std::map<int, int64_t>> rows;  // (phase, page) -> bucket -> count
  Statement q = db.prepare("SELECT phase, page_class, bucket, sum(count) FROM histograms GROUP BY 1, 2, 3");
  while (q.step()) {
    int phase = -1;
    for (int p = 0; p < 4; ++p)
      if (q.text(0) == kPhases[p]) phase = p;
    const int64_t bucket = q.int64(2), count = q.int64(3);
    if (phase < 0 || bucket < 0 || bucket > 63 || count <= 0) continue;
    rows[{phase, page_index(q.text(1))}][static_cast<int>(bucket)] += count;
  }
  const int row_height = 46, top = 34, axis = 30;
  const int height = rows.empty() ? 120 : top + row_height * static_cast<int>(rows.size()) + axis;
  open_chart(out, "latency", 0, height, "latency distributions per phase and page size");
  text(out, 10, 20, "Latency per phase and page size (log2 buckets of the rings' exact histograms)", "start",
       " class=\"title\"");
  if (rows.empty()) {
    empty_note(out, height, "no phase was timed in this recording");
    close_chart(out);
    return;
  }
  legend(out, kChartWidth - 370, 20);
  int lo = 63, hi = 0;
  for (const auto& [key, buckets] : rows) {
    lo = std::min(lo, buckets.begin()->first);
    hi = std::max(hi, buckets.rbegin()->first);
  }
  const double plot_x = kLabelWidth, plot_w = kChartWidth - kLabelWidth - 110;
  const double bar_w = plot_w / (hi - lo + 1);
  int row = 0;
  for (const auto& [key, buckets] : rows) {
    const double y0 = top + row * row_height;
    int64_t most = 0, total = 0;
    for (const auto& [b, n] : buckets) {
      most = std::max(most, n);
      total += n;
    }
    text(out, 10, y0 + row_height / 2.0 + 4, std::string(kPhases[key.first]) + " on " + kPageClasses[key.second]);
    for (const auto& [b, n] : buckets) {
      // Square-root scale: a bucket with one event still shows.
      const double h = std::max(2.0, (row_height - 8) * std::sqrt(static_cast<double>(n) / static_cast<double>(most)));
      rect(out, plot_x + (b - lo) * bar_w + 1, y0 + row_height - 4 - h, std::max(1.0, bar_w - 2), h,
           kPageColours[key.second],
           std::to_string(n) + " in [" + ns_text(uint64_t{1} << b) + ", " + ns_text(uint64_t{2} << b) + ")");
    }
    out << "<line x1=\"" << plot_x << "\" x2=\"" << plot_x + plot_w << "\" y1=\"" << y0 + row_height - 4
        << "\" y2=\"" << y0 + row_height - 4 << "\" stroke=\"#999999\"/>\n";
    text(out, kChartWidth - 10, y0 + row_height / 2.0 + 4, "n=" + std::to_string(total), "end");
    ++row;
  }
  const double axis_y = top + row * row_height + 16;
  const int step = std::max(1, (hi - lo + 1) / 10);
  for (int b = lo; b <= hi; b += step) text(out, plot_x + (b - lo) * bar_w, axis_y, ns_text(uint64_t{1} << b));
  close_chart(out);
}

// Page-size mix: a 100% bar per process of the bytes its large allocations mapped.
void page_mix_chart(std::ostream& out, Database& db, const std::map<int64_t, std::string>& labels) {
  struct Row {
    std::string label;
    std::array<int64_t, 4> bytes;
  };
  std::vector<Row> rows;
  Statement q = db.prepare(
      "SELECT process_id, api, bytes_1g, bytes_2m, bytes_thp, bytes_base FROM counters ORDER BY process_id");
  std::map<int64_t, std::array<int64_t, 4>> by_process;
  while (q.step()) {
    if (releases_memory(q.text(1)) || q.text(1) == kCopyApi) continue;  // copies map nothing
    auto& sums = by_process[q.int64(0)];
    for (int c = 0; c < 4; ++c) sums[c] += q.int64(2 + c);
  }
  for (const auto& [process, bytes] : by_process) {
    Row r{labels.count(process) ? labels.at(process) : "?", bytes};
    int64_t total = 0;
    for (int64_t b : r.bytes) total += std::max<int64_t>(b, 0);
    if (total > 0) rows.push_back(std::move(r));
  }
  const int row_height = 26, top = 34;
  const int height = rows.empty() ? 120 : top + row_height * static_cast<int>(rows.size()) + 10;
  open_chart(out, "page-mix", 1, height, "page-size mix of mapped bytes per process");
  text(out, 10, 20, "Bytes mapped by large allocations per process, by page size", "start", " class=\"title\"");
  if (rows.empty()) {
    empty_note(out, height, "no large allocation mapped memory in this recording");
    close_chart(out);
    return;
  }
  legend(out, kChartWidth - 370, 20);
  const double plot_x = kLabelWidth, plot_w = kChartWidth - kLabelWidth - 110;
  for (size_t i = 0; i < rows.size(); ++i) {
    const double y0 = top + static_cast<double>(i) * row_height;
    int64_t total = 0;
    for (int64_t b : rows[i].bytes) total += std::max<int64_t>(b, 0);
    text(out, 10, y0 + 17, rows[i].label);
    double x = plot_x;
    for (int c = 0; c < 4; ++c) {
      if (rows[i].bytes[c] <= 0) continue;
      const double share = static_cast<double>(rows[i].bytes[c]) / static_cast<double>(total);
      rect(out, x, y0 + 4, std::max(1.0, share * plot_w), row_height - 8, kPageColours[c],
           std::string(kPageClasses[c]) + ": " + bytes_text(rows[i].bytes[c]) + fmt(" (%.1f%%)", 100 * share));
      x += share * plot_w;
    }
    text(out, kChartWidth - 10, y0 + 17, bytes_text(total), "end");
  }
  close_chart(out);
}

// Fallbacks: one bar per reason, summed over processes and APIs.
void fallback_chart(std::ostream& out, const json& report) {
  std::map<std::string, int64_t> by_reason;
  for (const json& p : report["processes"])
    for (const json& a : p["apis"])
      for (auto& [reason, count] : a["fallbacks"].items()) by_reason[reason] += count.get<int64_t>();
  std::vector<std::pair<std::string, int64_t>> rows(by_reason.begin(), by_reason.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  const int row_height = 26, top = 34;
  const int height = rows.empty() ? 120 : top + row_height * static_cast<int>(rows.size()) + 10;
  open_chart(out, "fallbacks", 2, height, "fallbacks by reason");
  text(out, 10, 20, "Fallbacks by reason (events that did not get the largest page size they could use)", "start",
       " class=\"title\"");
  if (rows.empty()) {
    empty_note(out, height, "no fallbacks: every large event got its first rung");
    close_chart(out);
    return;
  }
  const double plot_x = kLabelWidth, plot_w = kChartWidth - kLabelWidth - 110;
  for (size_t i = 0; i < rows.size(); ++i) {
    const double y0 = top + static_cast<double>(i) * row_height;
    text(out, 10, y0 + 17, rows[i].first);
    const double w = plot_w * static_cast<double>(rows[i].second) / static_cast<double>(rows[0].second);
    rect(out, plot_x, y0 + 4, std::max(2.0, w), row_height - 8, kFallbackColour,
         rows[i].first + ": " + std::to_string(rows[i].second));
    text(out, kChartWidth - 10, y0 + 17, std::to_string(rows[i].second), "end");
  }
  close_chart(out);
}

// Timeline: one lane per process, each large event a bar from its start to
// its end (at least one pixel wide), coloured by page size.
void timeline_chart(std::ostream& out, Database& db, const std::map<int64_t, std::string>& labels) {
  int64_t origin = 0, finish = 0, stored = 0;
  {
    Statement q = db.prepare(
        "SELECT min(start_ns), max(end_ns), count(*) FROM events WHERE start_ns IS NOT NULL AND api != 'cudaMemcpy'");
    if (q.step() && !q.is_null(0)) {
      origin = q.int64(0);
      finish = std::max(q.int64(1), origin + 1);
      stored = q.int64(2);
    }
  }
  std::map<int64_t, int> lane_of;  // process id -> lane
  {
    Statement q =
        db.prepare("SELECT DISTINCT process_id FROM events WHERE api != 'cudaMemcpy' ORDER BY process_id LIMIT ?1");
    q.bind(1, int64_t{kMaxTimelineLanes});
    while (q.step()) lane_of.emplace(q.int64(0), static_cast<int>(lane_of.size()));
  }
  const int lane_height = 22, top = 34, axis = 30;
  const int height = lane_of.empty() ? 120 : top + lane_height * static_cast<int>(lane_of.size()) + axis;
  open_chart(out, "timeline", 3, height, "timeline of large events per process");
  std::string title = "Timeline of large events per process, coloured by page size";
  if (stored > kMaxTimelineEvents) title += " (the " + std::to_string(kMaxTimelineEvents) + " longest of " +
                                            std::to_string(stored) + ")";
  text(out, 10, 20, title, "start", " class=\"title\"");
  if (lane_of.empty()) {
    empty_note(out, height, "no events stored in this recording");
    close_chart(out);
    return;
  }
  legend(out, kChartWidth - 370, 20);
  const double plot_x = kLabelWidth, plot_w = kChartWidth - kLabelWidth - 20;
  const double scale = plot_w / static_cast<double>(finish - origin);
  for (const auto& [process, lane] : lane_of) {
    const double y0 = top + lane * lane_height;
    text(out, 10, y0 + 15, labels.count(process) ? labels.at(process) : "?");
    out << "<line x1=\"" << plot_x << "\" x2=\"" << plot_x + plot_w << "\" y1=\"" << y0 + lane_height / 2
        << "\" y2=\"" << y0 + lane_height / 2 << "\" stroke=\"#dddddd\"/>\n";
  }
  Statement q = db.prepare(
      "SELECT process_id, start_ns, end_ns, page_class, api, requested FROM events WHERE start_ns IS NOT NULL "
      "AND api != 'cudaMemcpy' ORDER BY duration_ns DESC LIMIT ?1");
  q.bind(1, int64_t{kMaxTimelineEvents});
  while (q.step()) {
    auto lane = lane_of.find(q.int64(0));
    if (lane == lane_of.end()) continue;
    const int64_t start = q.int64(1), end = std::max(q.int64(2), start);
    rect(out, plot_x + static_cast<double>(start - origin) * scale, top + lane->second * lane_height + 3,
         std::max(1.0, static_cast<double>(end - start) * scale), lane_height - 6,
         kPageColours[page_index(q.text(3))],
         q.text(4) + " " + bytes_text(q.int64(5)) + " on " + q.text(3) + ", " +
             ns_text(static_cast<uint64_t>(end - start)));
  }
  const double axis_y = top + static_cast<double>(lane_of.size()) * lane_height + 18;
  for (int i = 0; i <= 5; ++i) {
    const double t = static_cast<double>(finish - origin) * i / 5;
    text(out, plot_x + t * scale, axis_y, ns_text(static_cast<uint64_t>(t)), i == 5 ? "end" : i ? "middle" : "start");
  }
  close_chart(out);
}

void slowest_table(std::ostream& out, const json& report) {
  std::vector<std::pair<const json*, const json*>> events;  // (process, event)
  for (const json& p : report["processes"])
    for (const json& e : p["slowest"]) events.emplace_back(&p, &e);
  std::sort(events.begin(), events.end(), [](const auto& a, const auto& b) {
    return (*a.second)["duration_ns"].template get<int64_t>() > (*b.second)["duration_ns"].template get<int64_t>();
  });
  if (events.size() > kSlowestShown) events.resize(kSlowestShown);
  out << "<h2>Slowest events</h2>\n";
  if (events.empty()) {
    out << "<p>No events stored.</p>\n";
    return;
  }
  out << "<table><tr><th>pid</th><th>executable</th><th>api</th><th>requested</th><th>page size</th><th>time</th>";
  for (const char* phase : kPhases) out << "<th>" << phase << "</th>";
  out << "<th>fallback</th><th>caller</th></tr>\n";
  for (const auto& [p, e] : events) {
    out << "<tr><td>" << (*p)["pid"].get<int64_t>() << "</td><td>" << html_escape(basename_of((*p)["exe"].get<std::string>()))
        << "</td><td>" << html_escape((*e)["api"].get<std::string>()) << "</td><td>"
        << bytes_text((*e)["requested"].get<int64_t>()) << "</td><td>"
        << html_escape((*e)["page_class"].get<std::string>()) << "</td><td>"
        << ns_text((*e)["duration_ns"].get<uint64_t>()) << "</td>";
    for (const char* phase : kPhases) {
      const uint64_t ns = (*e)["phase_ns"][phase].get<uint64_t>();
      out << "<td>" << (ns ? ns_text(ns) : "") << "</td>";
    }
    out << "<td>" << html_escape((*e)["fallback"].get<std::string>()) << "</td><td title=\""
        << html_escape((*e)["caller_module"].is_null() ? "" : (*e)["caller_module"].get<std::string>()) << "\">"
        << html_escape(caller_text(*e)) << "</td></tr>\n";
  }
  out << "</table>\n";
}

void process_table(std::ostream& out, const json& report) {
  out << "<h2>Processes</h2>\n<table><tr><th>pid</th><th>state</th><th>executable</th><th>command line</th>"
         "<th>large events</th><th>stored</th><th>dropped</th><th>bytes mapped by allocations</th></tr>\n";
  for (const json& p : report["processes"]) {
    int64_t events = 0, stored = 0, dropped = 0, mapped = 0;
    for (const json& a : p["apis"]) {
      events += a["events"].get<int64_t>();
      stored += a["records_stored"].get<int64_t>();
      dropped += a["records_dropped"].get<int64_t>();
      if (!releases_memory(a["api"].get<std::string>())) mapped += a["bytes_mapped"].get<int64_t>();
    }
    out << "<tr><td>" << p["pid"].get<int64_t>() << "</td><td>" << html_escape(p["state"].get<std::string>())
        << "</td><td>" << html_escape(p["exe"].get<std::string>()) << "</td><td class=\"cmd\">"
        << html_escape(p["cmdline"].get<std::string>()) << "</td><td>" << events << "</td><td>" << stored
        << "</td><td>" << dropped << "</td><td>" << bytes_text(mapped) << "</td></tr>\n";
  }
  out << "</table>\n";
}

constexpr const char* kStyle = R"css(
body { font: 14px sans-serif; margin: 20px; color: #222222; background: #ffffff; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
svg.chart { display: block; margin: 12px 0; }
svg text { font: 12px sans-serif; fill: #222222; }
svg text.title { font-weight: bold; }
svg text.empty { fill: #666666; }
table { border-collapse: collapse; }
td, th { border: 1px solid #cccccc; padding: 2px 6px; text-align: left; }
td.cmd { max-width: 420px; overflow-wrap: anywhere; }
)css";

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

void render_html(const json& report, Database& db, std::ostream& out) {
  // Lane and row labels, "pid executable" per process id. The model lists
  // every process in id order with its text made valid UTF-8 (report.h).
  std::map<int64_t, std::string> labels;
  {
    Statement q = db.prepare("SELECT id FROM processes ORDER BY id");
    for (const json& p : report["processes"]) {
      if (!q.step()) break;
      labels[q.int64(0)] = std::to_string(p["pid"].get<int64_t>()) + " " + basename_of(p["exe"].get<std::string>());
    }
  }
  out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      << "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
      << "<title>hugeshim report</title>\n<style>" << kStyle << "</style>\n</head>\n<body>\n"
      << "<h1>hugeshim report</h1>\n<p>" << report["processes"].size()
      << " process(es). Times are per call as the shim measured them; bytes are the rings' exact counters.</p>\n";
  latency_chart(out, db);
  page_mix_chart(out, db, labels);
  fallback_chart(out, report);
  timeline_chart(out, db, labels);
  slowest_table(out, report);
  process_table(out, report);
  out << "</body>\n</html>\n";
}

}  // namespace hugeshim::collector
