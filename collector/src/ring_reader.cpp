#include "ring_reader.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sigbus_guard.h"

namespace hugeshim::collector {
namespace {

template <typename T>
T load_relaxed(const T& field) {
  return __atomic_load_n(&field, __ATOMIC_RELAXED);
}

// A NUL-bounded string from a fixed field that may hold no NUL at all.
std::string bounded_string(const char* field, size_t len) {
  return std::string(field, strnlen(field, len));
}

// The header, copied out of shared memory in one go; afterwards only the
// copy is looked at, so a producer changing it cannot make two checks
// disagree.
std::unique_ptr<hugeshim_ring_header> copy_header(const void* base) {
  auto copy = std::make_unique<hugeshim_ring_header>();
  memcpy(copy.get(), base, sizeof *copy);
  return copy;
}

}  // namespace

const char* record_defect(const hugeshim_ring_record& r) {
  if (r.api >= HUGESHIM_API_COUNT) return "api code out of range";
  if (r.fallback >= HUGESHIM_FALLBACK_COUNT) return "fallback code out of range";
  if (r.gpu < -1 || r.gpu >= static_cast<int32_t>(HUGESHIM_RING_GPU_MAX)) return "gpu index out of range";
  return nullptr;
}

std::optional<RingView> RingView::validate(void* base, size_t size, std::string* why, bool* pending) {
  if (pending) *pending = false;
  auto fail = [&](std::string reason) {
    *why = std::move(reason);
    return std::nullopt;
  };
  if (reinterpret_cast<uintptr_t>(base) % alignof(hugeshim_ring_header))
    return fail("segment image is not 8-byte aligned");
  if (size < sizeof(uint64_t) || __atomic_load_n(static_cast<uint64_t*>(base), __ATOMIC_ACQUIRE) == 0) {
    if (pending) *pending = true;
    return fail("segment not initialised yet (no magic)");
  }
  if (size < sizeof(hugeshim_ring_header))
    return fail("truncated: " + std::to_string(size) + " bytes, the header alone needs " +
                std::to_string(sizeof(hugeshim_ring_header)));
  auto h = copy_header(base);
  if (h->magic != HUGESHIM_RING_MAGIC) return fail("bad magic: not a hugeshim ring segment");
  if (h->abi_version != HUGESHIM_RING_ABI_VERSION)
    return fail("ring ABI version " + std::to_string(h->abi_version) + ", this collector reads version " +
                std::to_string(HUGESHIM_RING_ABI_VERSION));
  const std::string version = std::to_string(HUGESHIM_RING_ABI_VERSION);
  if (h->header_size != sizeof(hugeshim_ring_header))
    return fail("header size " + std::to_string(h->header_size) + " != " +
                std::to_string(sizeof(hugeshim_ring_header)) + " for ABI version " + version);
  if (h->slot_size != sizeof(hugeshim_ring_slot))
    return fail("slot size " + std::to_string(h->slot_size) + " != " +
                std::to_string(sizeof(hugeshim_ring_slot)) + " for ABI version " + version);
  const uint32_t cap = h->capacity;
  if (cap < HUGESHIM_RING_MIN_SLOTS || cap > HUGESHIM_RING_MAX_SLOTS || (cap & (cap - 1)))
    return fail("capacity " + std::to_string(cap) + " is not a power of two in [" +
                std::to_string(HUGESHIM_RING_MIN_SLOTS) + ", " + std::to_string(HUGESHIM_RING_MAX_SLOTS) + "]");
  if (h->slots_offset != sizeof(hugeshim_ring_header))
    return fail("slot array offset " + std::to_string(h->slots_offset) + " != header size");
  const uint64_t need = sizeof(hugeshim_ring_header) + uint64_t{cap} * sizeof(hugeshim_ring_slot);
  if (h->segment_size != need)
    return fail("declared segment size " + std::to_string(h->segment_size) + " != " +
                std::to_string(need) + " implied by the capacity");
  if (size < need)
    return fail("truncated: " + std::to_string(size) + " bytes, capacity " + std::to_string(cap) +
                " needs " + std::to_string(need));
  auto* slots = reinterpret_cast<hugeshim_ring_slot*>(static_cast<char*>(base) + sizeof(hugeshim_ring_header));
  return RingView(static_cast<hugeshim_ring_header*>(base), slots, cap);
}

RingIdentity RingView::identity() const {
  auto h = copy_header(header_);
  RingIdentity id;
  id.pid = h->pid;
  id.ppid = h->ppid;
  id.uid = h->uid;
  id.capacity = capacity_;
  id.start_ticks = h->start_ticks;
  id.start_realtime_ns = h->start_realtime_ns;
  id.start_monotonic_ns = h->start_monotonic_ns;
  id.exe = bounded_string(h->exe, sizeof h->exe);
  const size_t cmd_len = std::min<size_t>(h->cmdline_bytes, sizeof h->cmdline);
  for (size_t at = 0; at < cmd_len;) {
    size_t len = strnlen(h->cmdline + at, cmd_len - at);
    id.argv.emplace_back(h->cmdline + at, len);
    at += len + 1;
  }
  const size_t cfg_len = std::min<size_t>(h->config_bytes, sizeof h->config);
  std::string_view cfg(h->config, strnlen(h->config, cfg_len));
  while (!cfg.empty()) {
    size_t eol = cfg.find('\n');
    std::string_view line = cfg.substr(0, eol);
    size_t eq = line.find('=');
    if (eq != std::string_view::npos)
      id.config.emplace_back(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
    if (eol == std::string_view::npos) break;
    cfg.remove_prefix(eol + 1);
  }
  return id;
}

RingTotals RingView::totals() const {
  auto h = copy_header(header_);
  RingTotals t;
  memcpy(t.counters, h->counters, sizeof t.counters);
  memcpy(t.histograms, h->histograms, sizeof t.histograms);
  for (const auto& stripe : h->small_calls)
    for (uint32_t api = 0; api < HUGESHIM_API_COUNT; ++api) t.small_calls[api] += stripe.calls[api];
  const uint32_t gpus = std::min<uint32_t>(h->gpu_count, HUGESHIM_RING_GPU_MAX);
  for (uint32_t i = 0; i < gpus; ++i) {
    const hugeshim_ring_gpu& g = h->gpus[i];
    if (g.valid != 1) continue;
    t.gpus.push_back({i, bounded_string(g.pci_bus_id, sizeof g.pci_bus_id), g.numa_node,
                      g.iommu_type < HUGESHIM_IOMMU_COUNT ? g.iommu_type : uint32_t{HUGESHIM_IOMMU_UNKNOWN}});
  }
  t.exited = h->producer_state == HUGESHIM_PRODUCER_EXITED;
  t.execed = h->producer_state == HUGESHIM_PRODUCER_EXECED;
  t.exit_monotonic_ns = h->exit_monotonic_ns;
  t.enqueue_pos = h->enqueue_pos;
  t.dequeue_pos = h->dequeue_pos;
  return t;
}

size_t RingView::peek(DrainedSlot* out, size_t max, bool producer_gone) const {
  const uint64_t mask = capacity_ - 1;
  uint64_t pos = load_relaxed(header_->dequeue_pos);
  const uint64_t claimed_end = __atomic_load_n(&header_->enqueue_pos, __ATOMIC_ACQUIRE);
  if (max > capacity_) max = capacity_;
  size_t n = 0;
  // Only claimed positions: past enqueue_pos a slot's page may not be real
  // (ring.h, "Memory"), and touching it would allocate it, or fault.
  for (; n < max && static_cast<int64_t>(claimed_end - pos) > 0; ++n, ++pos) {
    const uint64_t index = pos & mask;
    hugeshim_ring_slot* slot = &slots_[index];
    DrainedSlot& d = out[n];
    d.position = pos;
    d.why_invalid = nullptr;
    const uint64_t seq = __atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE);
    if (seq == pos - index + 1) {  // published for pos (sequence relative to the index)
      memcpy(&d.record, &slot->record, sizeof d.record);
      // A published slot is ours until released: a change now is not the
      // protocol, so the copy cannot be trusted.
      if (__atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE) != seq) {
        d.kind = DrainedSlot::Kind::invalid;
        d.why_invalid = "slot rewritten while being read";
      } else if ((d.why_invalid = record_defect(d.record))) {
        d.kind = DrainedSlot::Kind::invalid;
      } else {
        d.kind = DrainedSlot::Kind::record;
      }
    } else if (producer_gone) {
      d.kind = DrainedSlot::Kind::torn;
      memset(&d.record, 0, sizeof d.record);
    } else {
      break;  // not yet published (or nothing more to read)
    }
  }
  return n;
}

void RingView::release(size_t count) {
  const uint64_t mask = capacity_ - 1;
  const uint64_t pos = load_relaxed(header_->dequeue_pos);
  if (count > capacity_) count = capacity_;
  for (size_t i = 0; i < count; ++i) {
    const uint64_t index = (pos + i) & mask;
    // Free for the next lap's position pos + i + capacity (relative to the index).
    __atomic_store_n(&slots_[index].seq, pos + i + capacity_ - index, __ATOMIC_RELEASE);
  }
  __atomic_store_n(&header_->dequeue_pos, pos + count, __ATOMIC_RELEASE);
}

void RingView::mark_attached() { __atomic_store_n(&header_->reader_attached, 1u, __ATOMIC_RELEASE); }

uint64_t RingView::backlog() const {
  const int64_t d = static_cast<int64_t>(load_relaxed(header_->enqueue_pos) - load_relaxed(header_->dequeue_pos));
  return d < 0 ? 0 : std::min<uint64_t>(static_cast<uint64_t>(d), capacity_);
}

SegmentFileResult open_segment_file(int dir_fd, const std::string& name, int flags, uid_t owner, int* fd,
                                    size_t* size, std::string* why) {
  const int f = openat(dir_fd, name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (f < 0) {
    *why = std::string("cannot open: ") + strerror(errno);
    return errno == ENOENT ? SegmentFileResult::pending : SegmentFileResult::rejected;
  }
  auto give_up = [&](SegmentFileResult r, std::string reason) {
    close(f);
    *why = std::move(reason);
    return r;
  };
  struct stat st;
  if (fstat(f, &st) != 0) return give_up(SegmentFileResult::rejected, std::string("cannot stat: ") + strerror(errno));
  if (!S_ISREG(st.st_mode)) return give_up(SegmentFileResult::rejected, "not a regular file");
  if (st.st_uid != owner)
    return give_up(SegmentFileResult::rejected, "owned by uid " + std::to_string(st.st_uid) + ", not by " +
                                                    std::to_string(owner) + ": refused");
  if (st.st_size == 0) return give_up(SegmentFileResult::pending, "segment not sized yet");
  *fd = f;
  *size = static_cast<size_t>(st.st_size);
  return SegmentFileResult::ok;
}

Segment::OpenResult Segment::open(int dir_fd, const std::string& name, std::optional<Segment>* out,
                                  std::string* why, uid_t owner) {
  int fd = -1;
  size_t size = 0;
  switch (open_segment_file(dir_fd, name, O_RDWR, owner, &fd, &size, why)) {
    case SegmentFileResult::ok: break;
    case SegmentFileResult::pending: return OpenResult::pending;
    case SegmentFileResult::rejected: return OpenResult::rejected;
  }
  auto give_up = [&](OpenResult r, std::string reason) {
    close(fd);
    *why = std::move(reason);
    return r;
  };
  // One consumer per segment: a second collector on the same directory
  // leaves alone what another one drains. The lock lives as long as fd.
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) return give_up(OpenResult::pending, "drained by another collector");
  void* map = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) return give_up(OpenResult::rejected, std::string("cannot map: ") + strerror(errno));
  std::optional<RingView> view;
  RingIdentity identity;
  bool pending = false;
  std::string reason;
  bool intact = run_guarded([&] {
    view = RingView::validate(map, size, &reason, &pending);
    if (view) identity = view->identity();
  });
  if (!intact || !view) {
    munmap(map, size);
    return give_up(pending && intact ? OpenResult::pending : OpenResult::rejected,
                   intact ? reason : "file shrank while being read");
  }
  // Tell the producer someone reads it: it keeps the segment at exit then.
  if (!run_guarded([&] { view->mark_attached(); })) {
    munmap(map, size);
    return give_up(OpenResult::rejected, "file shrank while being read");
  }
  out->emplace(Segment(fd, name, map, size, *view, std::move(identity)));
  return OpenResult::ok;
}

Segment::Segment(Segment&& other) noexcept
    : fd_(other.fd_), name_(std::move(other.name_)), map_(other.map_), size_(other.size_),
      view_(other.view_), identity_(std::move(other.identity_)) {
  other.fd_ = -1;
  other.map_ = nullptr;
}

Segment::~Segment() {
  if (map_) munmap(map_, size_);
  if (fd_ >= 0) close(fd_);
}

bool Segment::totals(RingTotals* out) {
  return run_guarded([&] { *out = view_.totals(); });
}

bool Segment::peek(DrainedSlot* out, size_t max, bool producer_gone, size_t* got) {
  return run_guarded([&] { *got = view_.peek(out, max, producer_gone); });
}

bool Segment::release(size_t count) {
  return run_guarded([&] { view_.release(count); });
}

bool Segment::backlog(uint64_t* out) {
  return run_guarded([&] { *out = view_.backlog(); });
}

}  // namespace hugeshim::collector
