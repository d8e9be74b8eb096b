// The rings of one or more directories, watched for metrics. Read-only: a
// segment is mapped PROT_READ and only its header is looked at (the exact
// counters and histograms), through the collector's hostile-input reader
// (RingView). No flock, no reader_attached, no slot is consumed, so a
// `hugeshim record` can drain the same rings at the same time.
//
// A process stays listed while it runs. Once it has gone (exited, exec'd,
// killed, or its segment was removed by a collector that drained it) it is
// listed by one more scrape, with its last values and gone=true, and then
// dropped: its last values are folded into the exporter's own totals
// (MetricsSnapshot::exited), so totals over all processes never go back.
// Segments of processes that were already gone when first seen are folded at
// once. Thread-safe: concurrent scrapes take turns.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "metrics_snapshot.h"

namespace hugeshim::collector {

class ObservedSegment;

class RingMetricsSource {
 public:
  // `messages` gets one line per refused segment (once per file).
  RingMetricsSource(std::vector<std::string> dirs, std::ostream& messages);
  ~RingMetricsSource();

  // One scrape: rereads every directory and header. A directory that has
  // disappeared is reported unreadable; what remains is still reported.
  MetricsSnapshot scrape();

 private:
  struct Tracked;
  struct Directory {
    std::string path;
    std::map<std::string, std::unique_ptr<Tracked>> tracked;  // by file name
    std::set<std::string> finished;  // folded, still in the directory
    std::set<std::string> refused;   // reported, still in the directory
  };
  void scan(Directory& dir, MetricsSnapshot& snapshot);

  std::mutex mutex_;
  std::vector<Directory> dirs_;
  std::ostream& messages_;
  RingCounts exited_;
  uint64_t processes_exited_ = 0;
};

}  // namespace hugeshim::collector

namespace hugeshim::collector {

// The ring directories a metrics command reads: `given` (--dir, each of which
// must exist and be readable), or the default ring directory, created (mode
// 0700, as the shim would) when no process has made it yet. Throws
// std::runtime_error with one line naming the directory and the reason.
std::vector<std::string> metrics_ring_dirs(std::vector<std::string> given);

}  // namespace hugeshim::collector
