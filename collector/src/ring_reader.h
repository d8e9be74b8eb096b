// Reading a ring segment as hostile input. A RingView validates a segment
// image (magic, version, sizes against the mapped size) before anything else
// and afterwards only ever: masks positions into the slot array, copies a
// slot out before looking at it, and never follows a value as a pointer.
// It works on any memory (the fuzz target feeds it bytes); Segment adds the
// file, the mapping and a SIGBUS guard against a file truncated under it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <sys/types.h>
#include <unistd.h>
#include <utility>
#include <vector>

#include "hugeshim/ring.h"

namespace hugeshim::collector {

// Identity of the producing process, copied out and made safe (strings
// NUL-bounded, lists clamped).
struct RingIdentity {
  int32_t pid = 0;
  int32_t ppid = 0;
  uint32_t uid = 0;
  uint32_t capacity = 0;
  uint64_t start_ticks = 0;
  uint64_t start_realtime_ns = 0;
  uint64_t start_monotonic_ns = 0;
  std::string exe;
  std::vector<std::string> argv;
  std::vector<std::pair<std::string, std::string>> config;  // NAME, value
};

struct RingGpu {
  uint32_t index = 0;
  std::string pci_bus_id;
  int32_t numa_node = -1;
  uint32_t iommu_type = 0;
};

// The header's totals at one moment, copied out.
struct RingTotals {
  hugeshim_ring_api_counters counters[HUGESHIM_API_COUNT] = {};
  hugeshim_ring_histogram histograms[HUGESHIM_PHASE_COUNT][HUGESHIM_PAGE_COUNT] = {};
  uint64_t small_calls[HUGESHIM_API_COUNT] = {};  // summed over stripes
  std::vector<RingGpu> gpus;
  bool exited = false;  // ran its exit path
  bool execed = false;  // its image was replaced by exec
  uint64_t exit_monotonic_ns = 0;
  uint64_t enqueue_pos = 0;
  uint64_t dequeue_pos = 0;
};

// One slot taken from the ring: a committed record (valid or not), or a
// slot whose writer died before committing it (torn).
struct DrainedSlot {
  enum class Kind : uint8_t { record, invalid, torn };
  Kind kind = Kind::record;
  uint64_t position = 0;  // ring position (monotonic, unique per segment)
  hugeshim_ring_record record = {};
  const char* why_invalid = nullptr;  // static string for Kind::invalid
};

// Checks a record's codes and arithmetic; returns nullptr when sound, else
// what is wrong.
const char* record_defect(const hugeshim_ring_record& r);

class RingView {
 public:
  // Validates `size` bytes at `base` (8-byte aligned). On failure returns
  // nullopt and a one-line reason in *why; *pending is set when the segment
  // is merely not initialised yet (zero magic).
  static std::optional<RingView> validate(void* base, size_t size, std::string* why,
                                          bool* pending = nullptr);

  RingIdentity identity() const;
  RingTotals totals() const;

  // Copies up to `max` slots starting at the consumer position into out[],
  // stopping at the first uncommitted slot, or, with producer_gone, taking
  // uncommitted slots below the producer position as torn. Releases nothing.
  size_t peek(DrainedSlot* out, size_t max, bool producer_gone) const;
  // Releases the next `count` slots (the ones peek returned) to the producer.
  void release(size_t count);
  // Sets reader_attached: the producer keeps its segment at exit.
  void mark_attached();
  // Producer position minus consumer position, clamped to [0, capacity].
  uint64_t backlog() const;

 private:
  RingView(hugeshim_ring_header* header, hugeshim_ring_slot* slots, uint32_t capacity)
      : header_(header), slots_(slots), capacity_(capacity) {}
  hugeshim_ring_header* header_;
  hugeshim_ring_slot* slots_;
  uint32_t capacity_;  // validated copy; the header's field is never re-read
};

// The checks every reader makes before mapping a segment file: opened
// without following a symlink (`flags`: O_RDONLY or O_RDWR), a regular file
// owned by `owner`, already sized. ok: *fd is open (the caller closes it)
// and *size is the file's size. pending: not yet (removed since the listing,
// not sized). rejected: never. *why says why when not ok.
enum class SegmentFileResult { ok, pending, rejected };
SegmentFileResult open_segment_file(int dir_fd, const std::string& name, int flags, uid_t owner, int* fd,
                                    size_t* size, std::string* why);

// A segment file, opened and mapped read-write (the consumer writes slot
// sequence numbers and its position). Refuses files not owned by `owner`
// (by default the caller; a root collector passes the owner of the ring
// directory it reads), symlinks and non-regular files, and takes an exclusive flock so that two
// collectors never drain one segment. Every access to the mapping runs under
// the SIGBUS guard: if the file shrinks under us the call returns false
// instead of killing the collector, and the caller drops the segment.
class Segment {
 public:
  enum class OpenResult { ok, pending, rejected };
  static OpenResult open(int dir_fd, const std::string& name, std::optional<Segment>* out,
                         std::string* why, uid_t owner = geteuid());
  Segment(Segment&& other) noexcept;
  Segment& operator=(Segment&&) = delete;
  ~Segment();

  const std::string& name() const { return name_; }
  const RingIdentity& identity() const { return identity_; }
  bool totals(RingTotals* out);
  // peek/release as in RingView; false when the mapping faulted (file cut).
  bool peek(DrainedSlot* out, size_t max, bool producer_gone, size_t* got);
  bool release(size_t count);
  bool backlog(uint64_t* out);

 private:
  Segment(int fd, std::string name, void* map, size_t size, RingView view, RingIdentity identity)
      : fd_(fd), name_(std::move(name)), map_(map), size_(size), view_(view), identity_(std::move(identity)) {}
  int fd_;  // kept open: it holds the consumer lock (flock)
  std::string name_;
  void* map_;
  size_t size_;
  RingView view_;
  RingIdentity identity_;
};

}  // namespace hugeshim::collector
