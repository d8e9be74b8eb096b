#include "pool_warmup.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <linux/mempolicy.h>
#include <mutex>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

#include "byte_size.h"
#include "finding.h"

namespace hugeshim::doctor {
namespace {

using Clock = std::chrono::steady_clock;

int64_t micros_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
}

int usable_cpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

std::string free_path(const WarmTarget& t) {
  std::string dir = "hugepages-" + std::to_string(t.size_kb) + "kB/free_hugepages";
  if (t.node < 0) return "/sys/kernel/mm/hugepages/" + dir;
  return "/sys/devices/system/node/node" + std::to_string(t.node) + "/hugepages/" + dir;
}

// An anonymous hugetlb mapping, unmapped when it goes out of scope, so no
// error path leaves pages taken from the pool.
class HugeMapping {
 public:
  HugeMapping(uint64_t page_bytes, int64_t pages) : bytes_(page_bytes * pages) {
    // The page size goes in the flags as its log2 (MAP_HUGE_2MB, MAP_HUGE_1GB).
    const int size_flag = std::countr_zero(page_bytes) << MAP_HUGE_SHIFT;
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | size_flag, -1, 0);
    if (p == MAP_FAILED) {
      error_ = errno;
      return;
    }
    addr_ = static_cast<char*>(p);
  }
  ~HugeMapping() {
    if (addr_) munmap(addr_, bytes_);
  }
  HugeMapping(const HugeMapping&) = delete;
  HugeMapping& operator=(const HugeMapping&) = delete;

  char* addr() const { return addr_; }
  int error() const { return error_; }

  // MPOL_BIND to one node, before any page is faulted. Returns 0 or errno.
  int bind(int node) const {
    std::vector<unsigned long> mask(node / (8 * sizeof(unsigned long)) + 1, 0);
    mask[node / (8 * sizeof(unsigned long))] = 1ul << (node % (8 * sizeof(unsigned long)));
    // The kernel reads maxnode - 1 bits.
    const unsigned long maxnode = mask.size() * 8 * sizeof(unsigned long) + 1;
    if (syscall(SYS_mbind, addr_, bytes_, MPOL_BIND, mask.data(), maxnode, 0) != 0) return errno;
    return 0;
  }

 private:
  size_t bytes_;
  char* addr_ = nullptr;
  int error_ = 0;
};

// Maps, binds and faults one target's pages with its threads taking pages
// one at a time, so a slow page delays no one; the first error stops all.
void warm_target(WarmTarget& t, std::atomic<int64_t>& warmed_total) {
  const auto start = Clock::now();
  const uint64_t page_bytes = t.size_kb * 1024;
  {
    HugeMapping mapping(page_bytes, t.pages);
    if (!mapping.addr()) {
      t.error = "mapping " + std::to_string(t.pages) + " pages failed: " +
                std::strerror(mapping.error()) +
                (mapping.error() == ENOMEM ? " (the free pages were taken meanwhile)" : "");
    } else if (int err = t.bind ? mapping.bind(t.node) : 0) {
      t.error = "binding the mapping to node " + std::to_string(t.node) +
                " failed: " + std::strerror(err);
    } else {
      std::atomic<int64_t> next{0}, warmed{0};
      std::atomic<bool> stop{false};
      std::mutex error_lock;
      auto worker = [&] {
        for (int64_t i; !stop.load() && (i = next.fetch_add(1)) < t.pages;) {
          if (madvise(mapping.addr() + i * page_bytes, page_bytes, MADV_POPULATE_WRITE) != 0) {
            const int err = errno;
            std::lock_guard lock(error_lock);
            if (!stop.exchange(true))
              t.error = "faulting page " + std::to_string(i) + " failed: " +
                        std::strerror(err) +
                        (err == EINVAL ? " (MADV_POPULATE_WRITE needs Linux 5.14 or later)" : "");
            return;
          }
          warmed.fetch_add(1);
          warmed_total.fetch_add(1);
        }
      };
      std::vector<std::thread> workers;
      for (int i = 0; i < t.threads; ++i) workers.emplace_back(worker);
      for (auto& w : workers) w.join();
      t.warmed = warmed.load();
    }
  }
  t.micros = micros_since(start);
}

}  // namespace

const char* warm_outcome_name(WarmOutcome o) {
  switch (o) {
    case WarmOutcome::planned: return "planned";
    case WarmOutcome::warmed: return "warmed";
    case WarmOutcome::failed: return "failed";
    case WarmOutcome::nothing: return "nothing";
    case WarmOutcome::skipped: return "skipped";
  }
  return "unknown";
}

int64_t WarmResult::pages() const {
  int64_t n = 0;
  for (const auto& t : targets) n += t.pages;
  return n;
}

int64_t WarmResult::warmed() const {
  int64_t n = 0;
  for (const auto& t : targets) n += t.warmed;
  return n;
}

uint64_t WarmResult::bytes() const {
  uint64_t n = 0;
  for (const auto& t : targets) n += static_cast<uint64_t>(t.pages) * t.size_kb * 1024;
  return n;
}

WarmResult plan_warmup(const std::vector<HugePool>& pools) {
  WarmResult plan;
  auto add = [&](uint64_t size_kb, int node, bool bind, int64_t free, int64_t pages) {
    WarmTarget t;
    t.size_kb = size_kb;
    t.node = node;
    t.bind = bind;
    t.free_before = free;
    t.pages = pages;
    plan.targets.push_back(t);
  };
  for (const auto& pool : pools) {
    int64_t left = pool.available();
    if (pool.reserved > 0)
      plan.note += (plan.note.empty() ? "" : "; ") + std::to_string(pool.reserved) + " " +
                   page_size_label(pool.size_kb) +
                   " pages reserved by running programs are left alone";
    if (pool.nodes.empty()) {
      if (left > 0) add(pool.size_kb, -1, false, pool.free, left);
      continue;
    }
    for (const auto& n : pool.nodes) {
      const int64_t pages = std::min(n.free, left);
      if (pages <= 0) continue;
      left -= pages;
      add(pool.size_kb, n.node, pool.nodes.size() > 1, n.free, pages);
    }
  }
  plan.outcome = plan.targets.empty() ? WarmOutcome::nothing : WarmOutcome::planned;
  // Each target's share of the CPUs, by its share of the pages; at least
  // one thread each, and no more threads than pages.
  const int cpus = usable_cpus();
  const int64_t total = plan.pages();
  for (auto& t : plan.targets)
    t.threads = static_cast<int>(
        std::clamp<int64_t>((cpus * t.pages + total - 1) / std::max<int64_t>(total, 1), 1,
                            std::min<int64_t>(t.pages, cpus)));
  return plan;
}

std::vector<HugePool> pools_after_apply(std::vector<HugePool> pools, const ApplyRequest& request,
                                        const ApplyResult& result) {
  // The pool actions come after the THP ones, one per requested pool, in order.
  size_t next = 0;
  for (const auto& a : result.actions) {
    if (a.setting != "hugetlb.pool") continue;
    const PoolTarget& t = request.pools.at(next++);
    if (a.status != ApplyStatus::planned) continue;
    auto pool = std::find_if(pools.begin(), pools.end(),
                             [&](const HugePool& p) { return p.size_kb == t.size_kb; });
    if (pool == pools.end()) continue;
    const int64_t delta = t.count - std::stoll(a.before);
    pool->total += delta;
    pool->free = std::max<int64_t>(pool->free + delta, 0);
    auto node = std::find_if(pool->nodes.begin(), pool->nodes.end(), [&](const NodePool& n) {
      return n.node == t.node || (t.node < 0 && pool->nodes.size() == 1);
    });
    if (node != pool->nodes.end()) {
      node->total += delta;
      node->free = std::max<int64_t>(node->free + delta, 0);
    } else {
      pool->nodes.clear();
    }
  }
  return pools;
}

void warm_pools(const HostFiles& files, WarmResult& plan, const WarmProgress& progress) {
  const auto start = Clock::now();
  std::atomic<int64_t> warmed_total{0};
  std::mutex lock;
  std::condition_variable finished;
  size_t done = 0;
  // One thread per target, so the nodes are warmed in parallel.
  std::vector<std::thread> targets;
  for (auto& t : plan.targets)
    targets.emplace_back([&, target = &t] {
      warm_target(*target, warmed_total);
      std::lock_guard guard(lock);
      ++done;
      finished.notify_one();
    });
  {
    std::unique_lock guard(lock);
    while (!finished.wait_for(guard, std::chrono::milliseconds(100),
                              [&] { return done == targets.size(); }))
      if (progress) progress(warmed_total.load(), plan.pages());
  }
  plan.micros = micros_since(start);
  for (auto& t : targets) t.join();
  bool failed = false;
  for (auto& t : plan.targets) {
    t.free_after = files.read_int(free_path(t));
    failed |= !t.error.empty();
  }
  plan.outcome = plan.targets.empty() ? WarmOutcome::nothing
                 : failed            ? WarmOutcome::failed
                                     : WarmOutcome::warmed;
}

int warm_exit_status(const WarmResult& result) {
  return result.outcome == WarmOutcome::failed ? kExitWarmFailed : 0;
}

}  // namespace hugeshim::doctor
