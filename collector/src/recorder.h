// The drain loop over one ring directory: discovers segments, drains each
// into the Store batch by batch (stage, commit, then release the slots;
// expanding staged batches into event rows is a separate, later step),
// finishes a segment once its process is gone (last drain, torn slots
// counted, final totals, file removed), and reports rejected segments once.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <sys/types.h>
#include <unistd.h>
#include <vector>

#include "process_probe.h"
#include "ring_reader.h"
#include "store.h"

namespace hugeshim::collector {

struct RecorderStats {
  uint64_t records = 0;   // stored in events
  uint64_t skipped = 0;   // torn or invalid slots
  uint64_t processes = 0; // segments attached
  uint64_t finished = 0;  // segments drained to the end and removed
  uint64_t rejected = 0;  // segments refused as hostile or foreign
};

class Recorder {
 public:
  // Reads `dir`, which must be owned by `owner`, and takes only that uid's
  // segments; throws otherwise. Only root may name another uid (a shared
  // ring root's per-UID directories, ring_root.h). `messages` gets one line
  // per rejected segment.
  Recorder(Store& store, std::string dir, std::ostream& messages, uid_t owner = geteuid());
  ~Recorder();

  // Looks for new segments in the directory.
  void discover();
  // Drains every attached segment once; finishes those whose process is gone.
  void drain();
  // Expands one staged batch into event rows; false when none is left.
  bool expand_one();
  void expand_all();
  // Segments still attached (their processes may still run).
  size_t attached() const { return tracked_.size(); }
  const RecorderStats& stats() const { return stats_; }
  // Called with the pid of each process whose segment gets attached
  // (`--kernel` follows it from then on).
  void on_attach(std::function<void(pid_t)> callback) { on_attach_ = std::move(callback); }

 private:
  struct Tracked;
  bool drain_one(Tracked& t);  // false: the segment is finished or broken
  Store& store_;
  std::string dir_;
  int dir_fd_ = -1;
  uid_t owner_;  // of the directory and of every segment taken
  std::ostream& messages_;
  std::map<std::string, std::unique_ptr<Tracked>> tracked_;
  std::set<std::string> refused_;  // names already reported
  std::vector<DrainedSlot> batch_;
  RecorderStats stats_;
  std::function<void(pid_t)> on_attach_;
};

// Default ring directory: HUGESHIM_RING_DIR or /dev/shm/hugeshim-UID.
std::string default_ring_dir();

}  // namespace hugeshim::collector
