#include "prometheus_exposition.h"

#include <utility>
#include <vector>

#include "metrics_host_memory.h"

namespace hugeshim::collector {
namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Length of the well-formed UTF-8 sequence at s[i] (no overlong forms, no
// surrogates, nothing above U+10FFFF), or 0.
size_t utf8_sequence(const std::string& s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c >= 0xE0 && c <= 0xEF) n = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
  else if (c >= 0xF0 && c <= 0xF4) n = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
  else return 0;
  if (i + n > s.size() || byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  return n;
}

// Label values are escaped as the format asks (backslash, quote, newline)
// and made UTF-8, which Prometheus requires of the whole exposition: a byte
// that is not part of a valid sequence (a process may name itself anything)
// becomes U+FFFD. An empty value is left out, which Prometheus reads the
// same way.
std::string label_text(const Labels& labels) {
  std::string out;
  for (const auto& [name, value] : labels) {
    if (value.empty()) continue;
    out += out.empty() ? "{" : ",";
    out += name + "=\"";
    for (size_t i = 0; i < value.size();) {
      const char c = value[i];
      const size_t n = utf8_sequence(value, i);
      if (n == 0) out += "\xEF\xBF\xBD";  // U+FFFD
      else if (c == '\\') out += "\\\\";
      else if (c == '"') out += "\\\"";
      else if (c == '\n') out += "\\n";
      else out.append(value, i, n);
      i += n ? n : 1;
    }
    out += '"';
  }
  return out.empty() ? out : out + "}";
}

// One metric family: HELP and TYPE once, then its samples.
class Family {
 public:
  Family(std::string name, const char* type, std::string help)
      : name_(std::move(name)), type_(type), help_(std::move(help)) {}
  void sample(const Labels& labels, const std::string& value, const char* suffix = "") {
    samples_ += name_ + suffix + label_text(labels) + " " + value + "\n";
  }
  void sample(const Labels& labels, uint64_t value, const char* suffix = "") {
    sample(labels, std::to_string(value), suffix);
  }
  void render(std::string& out) const {
    if (samples_.empty()) return;
    out += "# HELP " + name_ + " " + help_ + "\n# TYPE " + name_ + " " + type_ + "\n" + samples_;
  }

 private:
  std::string name_;
  const char* type_;
  std::string help_;
  std::string samples_;
};

Labels with(Labels labels, std::initializer_list<std::pair<std::string, std::string>> more) {
  labels.insert(labels.end(), more.begin(), more.end());
  return labels;
}

void histogram_samples(Family& f, const Labels& labels, const hugeshim_ring_histogram& h) {
  uint64_t cumulative = 0;
  for (uint32_t b = 0; b < kFirstBucket; ++b) cumulative += h.buckets[b];
  for (uint32_t b = kFirstBucket; b <= kLastBucket; ++b) {
    cumulative += h.buckets[b];
    f.sample(with(labels, {{"le", seconds_text((uint64_t{2} << b) - 1)}}), cumulative, "_bucket");
  }
  for (uint32_t b = kLastBucket + 1; b < HUGESHIM_RING_HIST_BUCKETS; ++b) cumulative += h.buckets[b];
  f.sample(with(labels, {{"le", "+Inf"}}), cumulative, "_bucket");
  f.sample(labels, seconds_text(h.sum_ns), "_sum");
  f.sample(labels, cumulative, "_count");
}

uint64_t histogram_count(const hugeshim_ring_histogram& h) {
  uint64_t n = 0;
  for (uint64_t b : h.buckets) n += b;
  return n;
}

// The ring's counters and histograms as families named prefix + what. With
// `every_series`, every API, page size and reason gets a series, zero or
// not, so a rate() sees a series's first increase (the exporter's totals);
// without, only series with something to say (per process).
class RingFamilies {
 public:
  RingFamilies(const std::string& prefix, const std::string& whose)
      : calls_(prefix + "calls_total", "counter", "Large calls (at or above HUGESHIM_MIN_SIZE; copies, api cudaMemcpy: at or above "
                                              "HUGESHIM_CUPTI_MIN_BYTES) per API, " + whose + "."),
        small_calls_(prefix + "small_calls_total", "counter",
                     "CUDA pinned-memory calls below HUGESHIM_MIN_SIZE per API (approximate by design: docs/RING.md), " + whose + "."),
        requested_(prefix + "requested_bytes_total", "counter", "Bytes the program asked for in large calls, per API, " + whose + "."),
        mapped_(prefix + "mapped_bytes_total", "counter", "Bytes the shim mapped for large calls, per API, " + whose + "."),
        page_bytes_(prefix + "page_bytes_total", "counter",
                    "Bytes of large calls on each page size (allocations, frees and registrations alike; for "
                    "copies the host range's), per API, " + whose + "."),
        fallbacks_(prefix + "fallbacks_total", "counter",
                   "Large calls that did not get the largest page size they could use, per reason, " + whose + "."),
        dropped_(prefix + "records_dropped_total", "counter",
                 "Records dropped because the ring was full (their counts above are exact), per API, " + whose + "."),
        phases_(prefix + "phase_duration_seconds", "histogram",
                "Time in each phase of a large call (reserve, populate: also the preparation of a program's own "
                "registration, lock, register) by the page size holding most of its bytes, " + whose + ".") {}

  void add(const Labels& who, const RingCounts& c, bool every_series) {
    for (uint32_t a = 0; a < HUGESHIM_API_COUNT; ++a) {
      const hugeshim_ring_api_counters& k = c.counters[a];
      const Labels api = with(who, {{"api", hugeshim_api_name(a)}});
      if (every_series || c.small_calls[a]) small_calls_.sample(api, c.small_calls[a]);
      if (!every_series && !k.events) continue;
      calls_.sample(api, k.events);
      requested_.sample(api, k.bytes_requested);
      mapped_.sample(api, k.bytes_mapped);
      dropped_.sample(api, k.records_dropped);
      for (uint32_t p = 0; p < HUGESHIM_PAGE_COUNT; ++p)
        if (every_series || k.page_bytes[p])
          page_bytes_.sample(with(api, {{"page_size", hugeshim_page_class_name(p)}}), k.page_bytes[p]);
      if (every_series) continue;
      for (uint32_t r = 1; r < HUGESHIM_FALLBACK_COUNT; ++r)
        if (k.fallbacks[r]) fallbacks_.sample(with(api, {{"reason", hugeshim_fallback_name(r)}}), k.fallbacks[r]);
    }
    // The exporter's totals count fallbacks by reason only: one series per
    // reason instead of one per API and reason.
    if (every_series)
      for (uint32_t r = 1; r < HUGESHIM_FALLBACK_COUNT; ++r) {
        uint64_t n = 0;
        for (const auto& k : c.counters) n += k.fallbacks[r];
        fallbacks_.sample(with(who, {{"reason", hugeshim_fallback_name(r)}}), n);
      }
    for (uint32_t ph = 0; ph < HUGESHIM_PHASE_COUNT; ++ph)
      for (uint32_t p = 0; p < HUGESHIM_PAGE_COUNT; ++p)
        if (every_series || histogram_count(c.histograms[ph][p]))
          histogram_samples(phases_,
                            with(who, {{"phase", hugeshim_phase_name(ph)}, {"page_size", hugeshim_page_class_name(p)}}),
                            c.histograms[ph][p]);
  }

  void render(std::string& out) const {
    for (const Family* f : {&calls_, &small_calls_, &requested_, &mapped_, &page_bytes_, &fallbacks_, &dropped_, &phases_})
      f->render(out);
  }

 private:
  Family calls_, small_calls_, requested_, mapped_, page_bytes_, fallbacks_, dropped_, phases_;
};

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ",") + s;
  return out;
}

Labels process_labels(const ProcessMetrics& p) {
  return {{"pid", std::to_string(p.pid)},
          {"comm", p.identity.comm},
          {"gpu_bus_id", join(p.gpu_bus_ids)},
          {"pod_uid", p.identity.kubernetes.pod_uid},
          {"container_id", p.identity.kubernetes.container_id}};
}

void render_host(const HostMemory& host, std::string& out) {
  Family size("hugeshim_hugetlb_pool_size_bytes", "gauge", "Bytes in the hugetlb pool (nr_hugepages x page size) per NUMA node and page size (sysfs).");
  Family free("hugeshim_hugetlb_pool_free_bytes", "gauge", "Bytes of the hugetlb pool not in use per NUMA node and page size (sysfs free_hugepages).");
  Family surplus("hugeshim_hugetlb_pool_surplus_bytes", "gauge", "Bytes of surplus hugetlb pages per NUMA node and page size (sysfs surplus_hugepages).");
  Family reserved("hugeshim_hugetlb_pool_reserved_bytes", "gauge",
                  "Bytes of the hugetlb pool reserved by mappings but not faulted yet, host-wide per page size (sysfs resv_hugepages; the kernel keeps no per-node count).");
  for (const HugetlbPool& p : host.node_pools) {
    const Labels l = {{"node", std::to_string(p.node)}, {"page_size", p.page_size}};
    size.sample(l, p.pages * p.page_bytes);
    free.sample(l, p.free * p.page_bytes);
    surplus.sample(l, p.surplus * p.page_bytes);
  }
  for (const HugetlbPool& p : host.host_pools) reserved.sample({{"page_size", p.page_size}}, p.reserved * p.page_bytes);
  for (const Family* f : {&size, &free, &surplus, &reserved}) f->render(out);
  for (const auto& [name, value] : host.vmstat) {
    const char* help = "";
    for (size_t i = 0; i < kVmstatCounterCount; ++i)
      if (name == kVmstatCounters[i].name) help = kVmstatCounters[i].help;
    Family f("hugeshim_vmstat_" + name + "_total", "counter", std::string(help) + " (/proc/vmstat " + name + ")");
    f.sample({}, value);
    f.render(out);
  }
}

}  // namespace

std::string seconds_text(uint64_t ns) {
  std::string text = std::to_string(ns / 1000000000);
  std::string fraction = std::to_string(ns % 1000000000);
  fraction.insert(0, 9 - fraction.size(), '0');
  while (!fraction.empty() && fraction.back() == '0') fraction.pop_back();
  return fraction.empty() ? text : text + "." + fraction;
}

std::string render_prometheus(const MetricsSnapshot& s) {
  std::string out;
  // The exporter's totals: every process it has seen, the ones still listed
  // with their current values and the ones dropped with their last.
  RingCounts all = s.exited;
  for (const ProcessMetrics& p : s.processes) all.add(p.counts);
  RingFamilies totals("hugeshim_", "every process this exporter has seen (running and exited)");
  totals.add({}, all, /*every_series=*/true);
  totals.render(out);

  RingFamilies each("hugeshim_process_", "per process");
  Family start("hugeshim_process_start_time_seconds", "gauge", "When the process's ring was created, seconds since the Unix epoch.");
  Family gone("hugeshim_process_exited", "gauge", "1 on the last scrape that lists a process that has exited, 0 while it runs.");
  for (const ProcessMetrics& p : s.processes) {
    const Labels who = process_labels(p);
    each.add(who, p.counts, /*every_series=*/false);
    start.sample(who, seconds_text(p.start_realtime_ns));
    gone.sample(who, p.gone ? 1 : 0);
  }
  each.render(out);
  start.render(out);
  gone.render(out);

  Family processes("hugeshim_exporter_processes", "gauge", "Processes with a ring listed in this scrape.");
  processes.sample({}, s.processes.size());
  Family exited("hugeshim_exporter_processes_exited_total", "counter",
                "Processes whose rings were dropped from the listing after they exited; their last values stay in the hugeshim_*_total counters.");
  exited.sample({}, s.processes_exited);
  Family rejected("hugeshim_exporter_segments_rejected", "gauge", "Files in the ring directories refused (not a ring of this ABI, or not owned by this user).");
  rejected.sample({}, s.segments_rejected);
  Family up("hugeshim_exporter_ring_directory_readable", "gauge", "1 when the ring directory could be read in this scrape, 0 when it is missing or unreadable.");
  for (const RingDirectoryState& d : s.directories) up.sample({{"dir", d.path}}, d.readable ? 1 : 0);
  for (const Family* f : {&processes, &exited, &rejected, &up}) f->render(out);

  render_host(s.host, out);
  return out;
}

}  // namespace hugeshim::collector
