// The Prometheus text exposition (format 0.0.4) of a MetricsSnapshot, what
// `hugeshim serve` answers on /metrics and `hugeshim export --format
// prometheus` writes for node_exporter's textfile collector. The metric
// families, their labels and units are listed in docs/OBSERVABILITY.md.
#pragma once

#include <cstdint>
#include <string>

#include "metrics_snapshot.h"

namespace hugeshim::collector {

inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

std::string render_prometheus(const MetricsSnapshot& snapshot);

// The ring's log2 histograms as Prometheus buckets. Ring bucket b counts
// durations d (integer nanoseconds) with 2^b <= d < 2^(b+1), so "d <= le"
// holds exactly for every duration of buckets 0..b when le = 2^(b+1) - 1 ns.
// Buckets kFirstBucket..kLastBucket become `le` bounds (1.023 us to about
// 36.6 min); the ones below are counted in the first bound and the ones
// above only in +Inf, both exactly, since Prometheus buckets are cumulative.
inline constexpr uint32_t kFirstBucket = 9;
inline constexpr uint32_t kLastBucket = 40;

// Nanoseconds as seconds in decimal, exactly ("0.000001023", "2", "1.5").
std::string seconds_text(uint64_t ns);

}  // namespace hugeshim::collector
