#include "bench_report.h"

#include <algorithm>
#include <cstdio>

namespace hugeshim_bench {
namespace {

constexpr double kGiB = 1024.0 * 1024 * 1024;

bool cell_of(const std::vector<Sample>& samples, size_t size, int phase, Cell* c) {
  c->per_gib.clear();
  for (const Sample& s : samples)
    if (s.error.empty() && s.seconds[phase] >= 0) c->per_gib.push_back(s.seconds[phase] * kGiB / static_cast<double>(size));
  if (c->per_gib.empty()) return false;
  std::vector<double> v = c->per_gib;
  std::sort(v.begin(), v.end());
  // Median: the middle one, or the mean of the two middle ones.
  size_t n = v.size();
  c->median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  c->min = v.front();
  c->max = v.back();
  return true;
}

std::string size_text(size_t b) {
  char buf[32];
  if (b >= (size_t{1} << 30) && b % (size_t{1} << 30) == 0) snprintf(buf, sizeof buf, "%zuG", b >> 30);
  else snprintf(buf, sizeof buf, "%zuM", b >> 20);
  return buf;
}

}  // namespace

nlohmann::json to_json(const Results& r) {
  nlohmann::json j;
  j["schema"] = "hugeshim-bench/1";
  j["host"] = r.host;
  j["settings"] = {{"sizes_bytes", r.sizes}, {"repeat", r.repeat}};
  j["wall_seconds"] = r.wall_seconds;
  j["pool_restored"] = r.pool_restored;
  j["skipped"] = nlohmann::json::object();
  for (const auto& [backing, why] : r.skipped) j["skipped"][backing] = why;
  j["results"] = nlohmann::json::array();
  for (const auto& [key, samples] : r.samples) {
    auto [backing, size] = key;
    std::vector<std::string> errors;
    uint64_t huge = 0;
    for (const Sample& s : samples) {
      if (!s.error.empty()) errors.push_back(s.error);
      else huge = std::max<uint64_t>(huge, s.huge_bytes);
    }
    for (int ph = 0; ph < kPhaseCount; ++ph) {
      Cell c;
      if (!cell_of(samples, size, ph, &c)) continue;
      nlohmann::json row = {{"backing", backing_name(static_cast<Backing>(backing))},
                            {"size_bytes", size},
                            {"phase", phase_name(ph)},
                            {"seconds_per_gib", {{"median", c.median}, {"min", c.min}, {"max", c.max}}},
                            {"samples", c.per_gib},
                            {"huge_bytes", huge}};
      Cell base;
      auto it = r.samples.find({static_cast<int>(Backing::base), size});
      if (it != r.samples.end() && cell_of(it->second, size, ph, &base) && base.median > 0)
        row["ratio_to_base"] = c.median / base.median;
      else
        row["ratio_to_base"] = nullptr;
      j["results"].push_back(row);
    }
    if (!errors.empty())
      j["errors"].push_back({{"backing", backing_name(static_cast<Backing>(backing))}, {"size_bytes", size},
                             {"messages", errors}});
  }
  return j;
}

std::string to_text(const Results& r) {
  std::string out;
  char line[256];
  snprintf(line, sizeof line, "seconds per GiB, median of %d (ratio to base pages); host: %s, THP %s, defrag %s, load %s\n",
           r.repeat, r.host.value("kernel", "?").c_str(), r.host.value("thp_enabled", "?").c_str(),
           r.host.value("thp_defrag", "?").c_str(), r.host.value("loadavg", "?").c_str());
  out += line;
  for (int ph = 0; ph < kPhaseCount; ++ph) {
    bool header = false;
    for (size_t size : r.sizes) {
      std::string row;
      bool any = false;
      for (Backing b : kBackings) {
        auto it = r.samples.find({static_cast<int>(b), size});
        Cell c, base;
        std::string cellt = "-";
        if (it != r.samples.end() && cell_of(it->second, size, ph, &c)) {
          any = true;
          auto bi = r.samples.find({static_cast<int>(Backing::base), size});
          if (bi != r.samples.end() && cell_of(bi->second, size, ph, &base) && base.median > 0)
            snprintf(line, sizeof line, "%.3f (%.2fx)", c.median, c.median / base.median);
          else
            snprintf(line, sizeof line, "%.3f", c.median);
          cellt = line;
        }
        snprintf(line, sizeof line, " %18s", cellt.c_str());
        row += line;
      }
      if (!any) continue;
      if (!header) {
        out += std::string("\n") + phase_name(ph) + "\n";
        snprintf(line, sizeof line, "%6s", "size");
        out += line;
        for (Backing b : kBackings) {
          snprintf(line, sizeof line, " %18s", backing_name(b));
          out += line;
        }
        out += "\n";
        header = true;
      }
      snprintf(line, sizeof line, "%6s", size_text(size).c_str());
      out += line + row + "\n";
    }
  }
  for (const auto& [backing, why] : r.skipped) out += "\n" + backing + " not measured: " + why;
  snprintf(line, sizeof line, "\n%s; %.0f s in all\n",
           r.pool_restored ? "hugetlb pool as it was before the run" : "WARNING: the hugetlb pool could not be restored",
           r.wall_seconds);
  out += line;
  return out;
}

}  // namespace hugeshim_bench
