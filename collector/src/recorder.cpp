#include "recorder.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

#include "hugeshim/options.h"

namespace hugeshim::collector {

struct Recorder::Tracked {
  Segment segment;
  int64_t process_id;
  std::vector<Mapping> maps;
  RingTotals stored;  // last totals written, to skip unchanged snapshots
  bool has_stored = false;
};

namespace {

constexpr size_t kStageChunk = 4096;  // ~8 ms to expand at 0.5 M rows/s

bool is_segment_name(const std::string& name) {
  const std::string prefix = HUGESHIM_RING_FILE_PREFIX, suffix = HUGESHIM_RING_FILE_SUFFIX;
  return name.size() > prefix.size() + suffix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool same_totals(const RingTotals& a, const RingTotals& b) {
  return !memcmp(a.counters, b.counters, sizeof a.counters) && !memcmp(a.histograms, b.histograms, sizeof a.histograms) &&
         !memcmp(a.small_calls, b.small_calls, sizeof a.small_calls) && a.gpus.size() == b.gpus.size() &&
         a.exited == b.exited && a.execed == b.execed;
}

}  // namespace

std::string default_ring_dir() {
  options_load();
  return g_options.ring_dir;
}

Recorder::Recorder(Store& store, std::string dir, std::ostream& messages, uid_t owner)
    : store_(store), dir_(std::move(dir)), owner_(owner), messages_(messages) {
  if (owner_ != geteuid() && geteuid() != 0)
    throw std::runtime_error("reading the rings of uid " + std::to_string(owner_) + " needs root");
  dir_fd_ = open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir_fd_ < 0) throw std::runtime_error("cannot open ring directory " + dir_ + ": " + strerror(errno));
  struct stat st;
  if (fstat(dir_fd_, &st) != 0 || st.st_uid != owner_) {
    close(dir_fd_);
    throw std::runtime_error("ring directory " + dir_ + " belongs to uid " + std::to_string(st.st_uid) + ", not to " +
                             (owner_ == geteuid() ? "us (" + std::to_string(owner_) + ")" : "uid " + std::to_string(owner_)) +
                             ": refused");
  }
}

Recorder::~Recorder() {
  tracked_.clear();
  if (dir_fd_ >= 0) close(dir_fd_);
}

void Recorder::discover() {
  int fd = dup(dir_fd_);
  if (fd < 0) return;
  DIR* d = fdopendir(fd);
  if (!d) {
    close(fd);
    return;
  }
  rewinddir(d);
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (is_segment_name(name) && !tracked_.count(name) && !refused_.count(name)) names.push_back(name);
  }
  closedir(d);
  for (const std::string& name : names) {
    std::optional<Segment> segment;
    std::string why;
    switch (Segment::open(dir_fd_, name, &segment, &why, owner_)) {
      case Segment::OpenResult::pending:
        break;  // not ready or drained by another collector: look again later
      case Segment::OpenResult::rejected:
        refused_.insert(name);
        ++stats_.rejected;
        messages_ << "hugeshim: ignoring " << dir_ << "/" << name << ": " << why << "\n";
        break;
      case Segment::OpenResult::ok: {
        const RingIdentity& id = segment->identity();
        int64_t process_id = store_.process(id);
        auto t = std::make_unique<Tracked>(Tracked{std::move(*segment), process_id, {}, {}, false});
        t->maps = read_code_mappings(id.pid, id.start_ticks);
        if (!t->maps.empty()) {
          store_.begin();
          store_.set_mappings(process_id, t->maps);
          store_.commit();
        }
        ++stats_.processes;
        if (on_attach_) on_attach_(t->segment.identity().pid);
        tracked_.emplace(name, std::move(t));
        break;
      }
    }
  }
}

bool Recorder::expand_one() { return store_.expand_staged_batch(); }

void Recorder::expand_all() {
  while (store_.expand_staged_batch()) {
  }
}

void Recorder::drain() {
  for (auto it = tracked_.begin(); it != tracked_.end();) {
    if (drain_one(*it->second)) ++it;
    else it = tracked_.erase(it);
  }
}

bool Recorder::drain_one(Tracked& t) {
  const RingIdentity& id = t.segment.identity();
  // Decide "gone" before reading: a process seen gone cannot publish more,
  // so whatever is unpublished below its claim position is torn for good.
  const bool gone = !process_running(id.pid, id.start_ticks);
  if (batch_.size() < id.capacity) batch_.resize(id.capacity);
  bool maps_refreshed = false;
  // A few laps per call at most, so one busy (or forged) ring cannot starve
  // the others; the next drain() continues where this one stopped.
  for (int lap = 0; lap < 4; ++lap) {
    size_t got = 0;
    RingTotals totals;
    if (!t.segment.peek(batch_.data(), id.capacity, gone, &got) || !t.segment.totals(&totals)) {
      messages_ << "hugeshim: dropping " << t.segment.name() << ": file shrank while being read\n";
      ++stats_.rejected;
      refused_.insert(t.segment.name());
      return false;
    }
    if (!gone && !maps_refreshed) {
      // A caller outside every known mapping: the process loaded code since.
      for (size_t i = 0; i < got; ++i)
        if (batch_[i].kind == DrainedSlot::Kind::record && !find_mapping(t.maps, batch_[i].record.caller)) {
          std::vector<Mapping> now = read_code_mappings(id.pid, id.start_ticks);
          if (!now.empty()) t.maps = std::move(now);
          maps_refreshed = true;
          break;
        }
    }
    const bool totals_changed = !t.has_stored || !same_totals(totals, t.stored);
    if (got == 0 && !totals_changed) break;
    store_.begin();
    // Staged in chunks so that expanding one (its own transaction) stays
    // short next to the drain period. The chunk grid starts at the consumer
    // position, so a re-read after a crash restages each chunk as a superset.
    for (size_t at = 0; at < got; at += kStageChunk)
      store_.stage_slots(t.process_id, batch_.data() + at, std::min(kStageChunk, got - at));
    if (maps_refreshed) store_.set_mappings(t.process_id, t.maps);
    if (totals_changed) store_.set_totals(t.process_id, totals);
    store_.commit();
    // Only now may the producer reuse the slots: they are on disk.
    t.segment.release(got);
    t.stored = std::move(totals);
    t.has_stored = true;
    for (size_t i = 0; i < got; ++i)
      (batch_[i].kind == DrainedSlot::Kind::record ? stats_.records : stats_.skipped) += 1;
    // A gone producer publishes nothing more: one lap holds all there is,
    // and a second would only follow a forged producer position.
    if (got < id.capacity || gone) break;
  }
  if (!gone) return true;
  // Totals read after the process was seen gone are final.
  store_.begin();
  const ProcessState state = t.stored.exited   ? ProcessState::exited
                             : t.stored.execed ? ProcessState::execed
                                               : ProcessState::killed;
  store_.set_state(t.process_id, state, t.stored.exit_monotonic_ns);
  store_.commit();
  unlinkat(dir_fd_, t.segment.name().c_str(), 0);
  ++stats_.finished;
  return false;
}

}  // namespace hugeshim::collector
