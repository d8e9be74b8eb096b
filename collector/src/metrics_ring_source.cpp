#include "metrics_ring_source.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <optional>
#include <stdexcept>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "process_probe.h"
#include "recorder.h"
#include "ring_reader.h"
#include "ring_root.h"
#include "sigbus_guard.h"

namespace hugeshim::collector {

void RingCounts::add(const RingCounts& o) {
  for (uint32_t a = 0; a < HUGESHIM_API_COUNT; ++a) {
    hugeshim_ring_api_counters& c = counters[a];
    const hugeshim_ring_api_counters& d = o.counters[a];
    c.events += d.events;
    c.bytes_requested += d.bytes_requested;
    c.bytes_mapped += d.bytes_mapped;
    for (uint32_t p = 0; p < HUGESHIM_PAGE_COUNT; ++p) c.page_bytes[p] += d.page_bytes[p];
    for (uint32_t r = 0; r < HUGESHIM_RING_FALLBACK_SLOTS; ++r) c.fallbacks[r] += d.fallbacks[r];
    c.records_written += d.records_written;
    c.records_dropped += d.records_dropped;
    small_calls[a] += o.small_calls[a];
  }
  for (uint32_t ph = 0; ph < HUGESHIM_PHASE_COUNT; ++ph)
    for (uint32_t p = 0; p < HUGESHIM_PAGE_COUNT; ++p) {
      histograms[ph][p].sum_ns += o.histograms[ph][p].sum_ns;
      for (uint32_t b = 0; b < HUGESHIM_RING_HIST_BUCKETS; ++b)
        histograms[ph][p].buckets[b] += o.histograms[ph][p].buckets[b];
    }
}

// A segment mapped read-only. The same checks as Segment (ring_reader.h):
// no symlinks, regular files of the directory's user, header validated before use,
// every access under the SIGBUS guard; unlike Segment it takes no lock and
// writes nothing.
class ObservedSegment {
 public:
  enum class OpenResult { ok, pending, rejected };
  static OpenResult open(int dir_fd, const std::string& name, uid_t owner, std::unique_ptr<ObservedSegment>* out,
                         std::string* why) {
    int fd = -1;
    size_t size = 0;
    switch (open_segment_file(dir_fd, name, O_RDONLY, owner, &fd, &size, why)) {
      case SegmentFileResult::ok: break;
      case SegmentFileResult::pending: return OpenResult::pending;
      case SegmentFileResult::rejected: return OpenResult::rejected;
    }
    void* map = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);  // the mapping keeps the file, even once it is removed
    if (map == MAP_FAILED) {
      *why = std::string("cannot map: ") + strerror(errno);
      return OpenResult::rejected;
    }
    std::optional<RingView> view;
    RingIdentity identity;
    bool pending = false;
    std::string reason;
    // RingView takes writable memory for the consumer's sake; only its
    // read-only calls (validate, identity, totals) are made here.
    const bool intact = run_guarded([&] {
      view = RingView::validate(map, size, &reason, &pending);
      if (view) identity = view->identity();
    });
    if (!intact || !view) {
      munmap(map, size);
      *why = intact ? reason : "file shrank while being read";
      return pending && intact ? OpenResult::pending : OpenResult::rejected;
    }
    out->reset(new ObservedSegment(map, size, *view, std::move(identity)));
    return OpenResult::ok;
  }
  ~ObservedSegment() { munmap(map_, size_); }
  const RingIdentity& identity() const { return identity_; }
  bool totals(RingTotals* out) const {
    return run_guarded([&] { *out = view_.totals(); });
  }

 private:
  ObservedSegment(void* map, size_t size, RingView view, RingIdentity identity)
      : map_(map), size_(size), view_(view), identity_(std::move(identity)) {}
  void* map_;
  size_t size_;
  RingView view_;
  RingIdentity identity_;
};

struct RingMetricsSource::Tracked {
  std::unique_ptr<ObservedSegment> segment;
  ProcessMetrics last;
  bool listed_before = false;  // in at least one snapshot
  bool shown_gone = false;     // listed once since it was found gone
};

namespace {

bool is_segment_name(const std::string& n) {
  const std::string prefix = HUGESHIM_RING_FILE_PREFIX, suffix = HUGESHIM_RING_FILE_SUFFIX;
  return n.size() > prefix.size() + suffix.size() && n.rfind(prefix, 0) == 0 &&
         n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0;
}

RingCounts counts_of(const RingTotals& t) {
  RingCounts c;
  memcpy(c.counters, t.counters, sizeof c.counters);
  memcpy(c.histograms, t.histograms, sizeof c.histograms);
  memcpy(c.small_calls, t.small_calls, sizeof c.small_calls);
  return c;
}

}  // namespace

RingMetricsSource::RingMetricsSource(std::vector<std::string> dirs, std::ostream& messages,
                                     std::vector<std::string> roots)
    : roots_(std::move(roots)), messages_(messages) {
  for (std::string& d : dirs) dirs_.push_back(Directory{std::move(d), geteuid(), false, {}, {}, {}});
}

RingMetricsSource::~RingMetricsSource() = default;

MetricsSnapshot RingMetricsSource::scrape() {
  std::lock_guard<std::mutex> lock(mutex_);
  MetricsSnapshot snapshot;
  const std::set<std::string> in_roots = expand_roots(snapshot);
  for (Directory& dir : dirs_) scan(dir, snapshot);
  std::erase_if(dirs_, [&](const Directory& d) {
    return d.from_root && !in_roots.count(d.path) && d.tracked.empty();
  });
  snapshot.exited = exited_;
  snapshot.processes_exited = processes_exited_;
  return snapshot;
}

std::set<std::string> RingMetricsSource::expand_roots(MetricsSnapshot& snapshot) {
  std::set<std::string> present;
  for (const std::string& root : roots_) {
    std::vector<std::string> skipped;
    std::vector<RingRootDirectory> found;
    try {
      found = ring_root_directories(root, &skipped);
    } catch (const std::exception& e) {
      snapshot.directories.push_back({root, false});
      if (skipped_.insert(root).second) messages_ << "hugeshim: " << e.what() << "\n" << std::flush;
      continue;
    }
    skipped_.erase(root);
    for (const std::string& line : skipped)
      if (skipped_.insert(line).second) messages_ << "hugeshim: " << line << "\n" << std::flush;
    for (const RingRootDirectory& d : found) {
      // Another user's rings are readable to root only; say so once.
      if (d.uid != geteuid() && geteuid() != 0) {
        const std::string line = "ignoring " + d.path + ": another user's rings (only root reads them)";
        if (skipped_.insert(line).second) messages_ << "hugeshim: " << line << "\n" << std::flush;
        continue;
      }
      present.insert(d.path);
      const bool watched =
          std::any_of(dirs_.begin(), dirs_.end(), [&](const Directory& w) { return w.path == d.path; });
      if (!watched) dirs_.push_back(Directory{d.path, d.uid, true, {}, {}, {}});
    }
  }
  return present;
}

void RingMetricsSource::scan(Directory& dir, MetricsSnapshot& snapshot) {
  std::set<std::string> listed;
  const int dir_fd = ::open(dir.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    if (DIR* d = fdopendir(dup(dir_fd))) {
      while (dirent* e = readdir(d))
        if (is_segment_name(e->d_name)) listed.insert(e->d_name);
      closedir(d);
    }
  }
  snapshot.directories.push_back({dir.path, dir_fd >= 0});

  // New files: open read-only; a process already gone is folded at once.
  for (const std::string& name : listed) {
    if (dir.tracked.count(name) || dir.finished.count(name) || dir.refused.count(name)) continue;
    std::unique_ptr<ObservedSegment> segment;
    std::string why;
    const ObservedSegment::OpenResult r = ObservedSegment::open(dir_fd, name, dir.owner, &segment, &why);
    if (r == ObservedSegment::OpenResult::rejected) {
      messages_ << "hugeshim: ignoring " << dir.path << "/" << name << ": " << why << "\n" << std::flush;
      dir.refused.insert(name);
    }
    if (r != ObservedSegment::OpenResult::ok) continue;
    auto t = std::make_unique<Tracked>();
    const RingIdentity& id = segment->identity();
    t->last.pid = id.pid;
    t->last.start_realtime_ns = id.start_realtime_ns;
    t->last.identity = read_process_identity(id.pid, id.start_ticks, id.exe);
    t->segment = std::move(segment);
    dir.tracked.emplace(name, std::move(t));
  }
  if (dir_fd >= 0) close(dir_fd);

  for (auto it = dir.tracked.begin(); it != dir.tracked.end();) {
    Tracked& t = *it->second;
    RingTotals totals;
    bool gone = !listed.count(it->first);
    if (t.segment->totals(&totals)) {
      t.last.counts = counts_of(totals);
      t.last.gpu_bus_ids.clear();
      for (const RingGpu& g : totals.gpus) t.last.gpu_bus_ids.push_back(g.pci_bus_id);
      gone = gone || totals.exited || totals.execed;
    } else {
      gone = true;  // cut under us: keep the values read before
    }
    const RingIdentity& id = t.segment->identity();
    gone = gone || !process_running(id.pid, id.start_ticks);
    t.last.gone = gone;
    // Listed one last time once gone (a process gone before we ever listed
    // it is folded at once), then folded into the exporter's totals.
    if (gone && (t.shown_gone || !t.listed_before)) {
      exited_.add(t.last.counts);
      ++processes_exited_;
      if (listed.count(it->first)) dir.finished.insert(it->first);
      it = dir.tracked.erase(it);
      continue;
    }
    if (gone) t.shown_gone = true;
    t.listed_before = true;
    snapshot.processes.push_back(t.last);
    ++it;
  }
  // Forget names that left the directory.
  std::erase_if(dir.finished, [&](const std::string& n) { return !listed.count(n); });
  std::erase_if(dir.refused, [&](const std::string& n) { return !listed.count(n); });
  snapshot.segments_rejected += dir.refused.size();
}

}  // namespace hugeshim::collector

namespace hugeshim::collector {

std::vector<std::string> metrics_ring_dirs(std::vector<std::string> given, const std::vector<std::string>& roots) {
  for (const std::string& root : roots) {
    const int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) throw std::runtime_error("ring root " + root + ": " + strerror(errno));
    close(fd);
  }
  if (given.empty() && roots.empty()) {
    const std::string dir = default_ring_dir();
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
      throw std::runtime_error("cannot create the default ring directory " + dir + ": " + strerror(errno));
    given.push_back(dir);
  }
  for (const std::string& dir : given) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("ring directory " + dir + ": " + strerror(errno));
    DIR* d = fdopendir(fd);
    if (!d) {
      const int e = errno;
      close(fd);
      throw std::runtime_error("ring directory " + dir + ": " + strerror(e));
    }
    errno = 0;
    const bool listed = readdir(d) != nullptr || errno == 0;
    const int e = errno;
    closedir(d);
    if (!listed) throw std::runtime_error("ring directory " + dir + " cannot be listed: " + strerror(e));
  }
  return given;
}

}  // namespace hugeshim::collector
