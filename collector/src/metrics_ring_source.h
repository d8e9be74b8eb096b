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
//
// A shared ring root (HUGESHIM_RING_ROOT, ring_root.h) is expanded at every
// scrape into its per-UID directories; the segments of each must belong to
// that directory's uid (only root reads other users' rings). A directory of
// a root that disappears is dropped once its processes are folded.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <set>
#include <string>
#include <sys/types.h>
#include <vector>

#include "metrics_snapshot.h"

namespace hugeshim::collector {

class ObservedSegment;

class RingMetricsSource {
 public:
  // `messages` gets one line per refused segment (once per file) and per
  // skipped entry of a root (once per entry).
  RingMetricsSource(std::vector<std::string> dirs, std::ostream& messages, std::vector<std::string> roots = {});
  ~RingMetricsSource();

  // One scrape: rereads every directory and header. A directory that has
  // disappeared is reported unreadable; what remains is still reported.
  MetricsSnapshot scrape();

 private:
  struct Tracked;
  struct Directory {
    std::string path;
    uid_t owner;      // the uid its segments must belong to
    bool from_root;   // found in a root: dropped when gone and empty
    std::map<std::string, std::unique_ptr<Tracked>> tracked;  // by file name
    std::set<std::string> finished;  // folded, still in the directory
    std::set<std::string> refused;   // reported, still in the directory
  };
  void scan(Directory& dir, MetricsSnapshot& snapshot);
  // Adds the per-UID directories of every root not yet watched; returns
  // the paths the roots hold now.
  std::set<std::string> expand_roots(MetricsSnapshot& snapshot);

  std::mutex mutex_;
  std::vector<Directory> dirs_;
  std::vector<std::string> roots_;
  std::set<std::string> skipped_;  // root entries already reported
  std::ostream& messages_;
  RingCounts exited_;
  uint64_t processes_exited_ = 0;
};

}  // namespace hugeshim::collector

namespace hugeshim::collector {

// The ring directories a metrics command reads: `given` (--dir, each of which
// must exist and be readable), or, when neither directories nor roots were
// given, the default ring directory, created (mode 0700, as the shim would)
// when no process has made it yet. Each of `roots` (--root) must be a
// directory that can be opened. Throws std::runtime_error with one line
// naming the directory and the reason.
std::vector<std::string> metrics_ring_dirs(std::vector<std::string> given, const std::vector<std::string>& roots = {});

}  // namespace hugeshim::collector
