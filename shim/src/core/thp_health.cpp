#include "core/thp_health.h"

#include <cstdio>

#include "hugeshim/clock.h"
#include "hugeshim/log.h"
#include "os/backing.h"

namespace hugeshim {

void ThpHealth::base_populated(uint64_t bytes, uint64_t ns) {
  if (bytes < kMinJudgedBytes) return;
  uint64_t per_gib = static_cast<uint64_t>(static_cast<__uint128_t>(ns) * (uint64_t{1} << 30) / bytes);
  base_ns_per_gib_ = base_ns_per_gib_ ? (3 * base_ns_per_gib_ + per_gib) / 4 : per_gib;
}

bool ThpHealth::judge_populate(const ThpPopulate& p, uint64_t now_ns) {
  if (p.bytes < kMinJudgedBytes) return false;
  bool failing = p.huge_bytes * 2 < p.bytes;
  uint64_t per_gib = static_cast<uint64_t>(static_cast<__uint128_t>(p.ns) * (uint64_t{1} << 30) / p.bytes);
  bool slower_than_base = base_ns_per_gib_ && per_gib > base_ns_per_gib_;
  if (failing || slower_than_base) {
    step_down(now_ns);
    return true;
  }
  healthy();
  return false;
}

bool ThpHealth::judge_vmstat(const ThpVmstat& d, uint64_t now_ns) {
  uint64_t faults = d.thp_fault_alloc + d.thp_fault_fallback;
  bool faults_fail = d.thp_fault_fallback >= kMinVmstatEvents && d.thp_fault_fallback * 2 >= faults;
  bool compaction_fails = d.compact_fail >= kMinVmstatEvents && d.compact_fail * 2 >= d.compact_stall;
  if (!faults_fail && !compaction_fails) return false;
  step_down(now_ns);
  return true;
}

void ThpHealth::step_down(uint64_t now_ns) {
  if (!allows(now_ns)) return;  // already down: a late verdict changes nothing
  // A verdict during a probe (after an earlier step-down) doubles the wait.
  if (probed_ && backoff_shift_ < kMaxBackoffShift) ++backoff_shift_;
  probed_ = true;
  stepped_down_ = true;
  retry_at_ns_ = now_ns + (kRetryNs << backoff_shift_);
  retry_bytes_ = kRetryBytes << backoff_shift_;
  stepped_bytes_ = 0;
}

void ThpHealth::healthy() {
  stepped_down_ = false;
  probed_ = false;
  backoff_shift_ = 0;
}

namespace {

ThpHealth g_health;
bool g_lock = false;            // spinlock over g_health and the vmstat sample
ThpVmstat g_last_vmstat;
bool g_have_vmstat = false;     // g_last_vmstat holds a sample
uint64_t g_last_vmstat_ns = 0;
// A lazy region's only evidence comes from the samples, taken when a large
// request is made: at most one every 10 ms, so that a short program (a batch
// of allocations within a second) is judged between its requests too. A
// sample reads /proc/vmstat (tens of microseconds), only on large requests.
constexpr uint64_t kVmstatEveryNs = 10'000'000ull;

struct Guard {
  Guard() {
    while (__atomic_exchange_n(&g_lock, true, __ATOMIC_ACQUIRE))
      while (__atomic_load_n(&g_lock, __ATOMIC_RELAXED)) __builtin_ia32_pause();
  }
  ~Guard() { __atomic_store_n(&g_lock, false, __ATOMIC_RELEASE); }
};

void note_verdict(const char* evidence) {
  log_at(LogLevel::info, "THP looks fragmented (%s): later requests use base pages (fallback thp_fragmented) until %llu s or %llu GiB have passed",
         evidence, static_cast<unsigned long long>((ThpHealth::kRetryNs << g_health.backoff_shift()) / 1'000'000'000ull),
         static_cast<unsigned long long>((ThpHealth::kRetryBytes << g_health.backoff_shift()) >> 30));
}

}  // namespace

bool thp_health_allows(uint64_t bytes) {
  uint64_t now = now_ns();
  Guard g;
  if (g_health.allows(now)) return true;
  g_health.stepped_down(bytes);
  return false;
}

void thp_health_after_populate(uintptr_t addr, uint64_t len, uint64_t thp_bytes, uint64_t ns) {
  if (len < ThpHealth::kMinJudgedBytes) return;
  if (thp_bytes == 0) {
    Guard g;
    g_health.base_populated(len, ns);
    return;
  }
  if (thp_bytes < ThpHealth::kMinJudgedBytes) return;
  // Outside the lock: reading smaps walks the page tables of the range.
  ThpPopulate p{thp_bytes, ns, backing_thp_bytes(addr, len)};
  if (p.huge_bytes > thp_bytes) p.huge_bytes = thp_bytes;
  bool fragmented;
  {
    Guard g;
    fragmented = g_health.judge_populate(p, now_ns());
  }
  if (fragmented && g_options.log >= LogLevel::info) {
    char why[96];
    snprintf(why, sizeof why, "%llu of %llu MiB huge, %llu ms/GiB",
             static_cast<unsigned long long>(p.huge_bytes >> 20), static_cast<unsigned long long>(p.bytes >> 20),
             static_cast<unsigned long long>(ns * 1024 / (p.bytes >> 20) / 1'000'000));
    note_verdict(why);
  }
}

void thp_health_sample_vmstat() {
  uint64_t now = now_ns();
  {
    Guard g;
    if (g_have_vmstat && now - g_last_vmstat_ns < kVmstatEveryNs) return;
    g_last_vmstat_ns = now;  // claims this sample
  }
  ThpVmstat v;
  if (!backing_thp_vmstat(&v.thp_fault_alloc, &v.thp_fault_fallback, &v.compact_stall, &v.compact_fail)) return;
  bool fragmented = false;
  ThpVmstat d;
  {
    Guard g;
    bool first = !g_have_vmstat;
    g_have_vmstat = true;
    d = ThpVmstat{v.thp_fault_alloc - g_last_vmstat.thp_fault_alloc,
                  v.thp_fault_fallback - g_last_vmstat.thp_fault_fallback,
                  v.compact_stall - g_last_vmstat.compact_stall, v.compact_fail - g_last_vmstat.compact_fail};
    g_last_vmstat = v;
    if (!first) fragmented = g_health.judge_vmstat(d, now);
  }
  if (fragmented && g_options.log >= LogLevel::info) {
    char why[128];
    snprintf(why, sizeof why, "host: %llu of %llu THP faults fell back, %llu of %llu compactions failed",
             static_cast<unsigned long long>(d.thp_fault_fallback),
             static_cast<unsigned long long>(d.thp_fault_fallback + d.thp_fault_alloc),
             static_cast<unsigned long long>(d.compact_fail), static_cast<unsigned long long>(d.compact_stall));
    note_verdict(why);
  }
}

}  // namespace hugeshim
