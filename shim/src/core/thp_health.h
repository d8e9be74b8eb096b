// THP health: whether the THP rung is worth taking now.
//
// On a fragmented host a THP fault finds no free 2 MiB block; with THP
// defrag in `madvise` mode (the usual default) it enters direct compaction,
// which can cost more than faulting base pages and may still end in base
// pages. The shim then steps to base pages for later requests (fallback
// reason thp_fragmented) and tries THP again after a while. Hugetlb rungs are
// not affected: pool pages are free huge pages by definition.
//
// Evidence, strongest first:
// 1. The shim's own populates of THP-advised memory (HUGESHIM_POPULATE=eager
//    and CUDA substitutions): the share of the range that came back as huge
//    pages (AnonHugePages of the range in /proc/self/smaps) and the time per
//    GiB compared with the shim's own base-page populates.
// 2. /proc/vmstat deltas, when the shim does not populate itself (lazy
//    regions fault in the program): thp_fault_fallback against
//    thp_fault_alloc, compact_fail against compact_stall. These count the
//    whole host, so they only step down when failures dominate.
//
// Verdicts (ThpHealth::judge_*):
// - fragmented when less than half of a populated THP range is huge, or
//   when its populate cost more per GiB than the shim's base-page
//   populates (a reference the shim has measured itself; without one, only
//   the share counts);
// - fragmented by vmstat when, since the previous sample, at least 32 THP
//   faults fell back and they are at least half of all THP faults, or at
//   least 32 direct compactions failed and they are at least half of all.
//
// Retry: after a verdict of fragmented the THP rung is skipped until
// 10 s have passed or 4 GiB of requests were stepped down, whichever comes
// first; the next THP request then probes. Each probe that is judged
// fragmented again doubles both budgets (up to 16x: 160 s, 64 GiB); a
// healthy THP populate resets them.
//
// ThpHealth is the decision logic alone (no clock, no I/O), fed recorded
// inputs by the unit test. The thp_health_* functions drive one
// process-wide instance from the region allocator (large requests only: the
// malloc fast path never reaches them) under a spinlock of their own.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hugeshim {

// One populate of THP-advised memory by the shim.
struct ThpPopulate {
  uint64_t bytes = 0;       // advised bytes populated (whole 2 MiB pages)
  uint64_t ns = 0;          // time the populate took
  uint64_t huge_bytes = 0;  // of them backed by huge pages afterwards
};

// Counters read from /proc/vmstat (a delta between two samples).
struct ThpVmstat {
  uint64_t thp_fault_alloc = 0;
  uint64_t thp_fault_fallback = 0;
  uint64_t compact_stall = 0;
  uint64_t compact_fail = 0;
};

class ThpHealth {
 public:
  static constexpr uint64_t kRetryNs = 10'000'000'000ull;         // 10 s
  static constexpr uint64_t kRetryBytes = uint64_t{4} << 30;       // 4 GiB
  static constexpr uint32_t kMaxBackoffShift = 4;                  // 16x
  static constexpr uint64_t kMinJudgedBytes = uint64_t{32} << 20;  // populates smaller say little
  static constexpr uint64_t kMinVmstatEvents = 32;

  // Whether a request at now_ns may take the THP rung.
  bool allows(uint64_t now_ns) const {
    return !stepped_down_ || now_ns >= retry_at_ns_ || stepped_bytes_ >= retry_bytes_;
  }

  // Records `bytes` of a request that skipped THP because of a verdict.
  void stepped_down(uint64_t bytes) { stepped_bytes_ += bytes; }

  // A populate of base-page memory by the shim (the reference cost).
  void base_populated(uint64_t bytes, uint64_t ns);

  // Judges a populate of THP-advised memory; returns true when it says
  // fragmented (and steps down from now_ns).
  bool judge_populate(const ThpPopulate& p, uint64_t now_ns);

  // Judges a vmstat delta; returns true when it says fragmented.
  bool judge_vmstat(const ThpVmstat& delta, uint64_t now_ns);

  bool stepped_down_now() const { return stepped_down_; }
  // Base-page populate cost measured so far (ns per GiB, 0: none yet).
  uint64_t base_ns_per_gib() const { return base_ns_per_gib_; }
  uint32_t backoff_shift() const { return backoff_shift_; }

 private:
  void step_down(uint64_t now_ns);
  void healthy();

  bool stepped_down_ = false;
  uint64_t retry_at_ns_ = 0;
  uint64_t stepped_bytes_ = 0;
  uint64_t retry_bytes_ = 0;
  uint32_t backoff_shift_ = 0;    // budgets are kRetry* << shift
  bool probed_ = false;           // a step-down happened before (next one doubles)
  uint64_t base_ns_per_gib_ = 0;  // smoothed (1/4 weight per new populate)
};

// Process-wide, for the region allocator.

// Whether the next THP request may take the rung; when it may not, counts
// its bytes against the retry budget.
bool thp_health_allows(uint64_t bytes);

// After the shim populated [addr, addr + len): thp_bytes of it were advised
// THP (0: base pages only). Reads the range's AnonHugePages when judging.
void thp_health_after_populate(uintptr_t addr, uint64_t len, uint64_t thp_bytes, uint64_t ns);

// Before a THP region that the program will fault in itself: samples
// /proc/vmstat at most once every 10 ms and judges the delta.
void thp_health_sample_vmstat();

}  // namespace hugeshim
