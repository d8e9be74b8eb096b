// `hugeshim doctor --warm`: faults every free page of the hugetlb pools
// once, so that a freshly booted VM pays the host's first-touch cost (the
// hypervisor backing guest memory on first write) at provisioning time
// instead of inside the server's first CUDA registration (3.8-6.5 s for
// 18 GiB on an H200 VM).
//
// For each pool and NUMA node with free pages: map that many pages
// (MAP_HUGETLB with the pool's page size, bound to the node with mbind on
// hosts with several nodes), fault them with MADV_POPULATE_WRITE from
// several threads, unmap. Unmapping gives the pages back to the pool, so
// the free counts end as they began. MADV_POPULATE_WRITE reports a page the
// kernel cannot give (an error) where a plain touch would raise SIGBUS, and
// the mapping is unmapped whatever happens.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "apply_settings.h"
#include "host_files.h"
#include "host_snapshot.h"

namespace hugeshim::doctor {

// One mapping: the free pages of one pool on one node.
struct WarmTarget {
  uint64_t size_kb = 0;
  int node = -1;              // -1: the pool lists no nodes (or their split is not known yet)
  bool bind = false;          // mbind to the node: only on hosts with several nodes
  int64_t free_before = 0;    // free pages of the pool (on the node) when planned
  int64_t pages = 0;          // pages to fault
  int threads = 1;            // workers faulting them
  int64_t warmed = 0;         // pages faulted
  int64_t micros = 0;         // wall time of mapping, faulting and unmapping
  std::optional<int64_t> free_after;  // read back after unmapping
  std::string error;          // why it stopped short; "" when every page was faulted
};

enum class WarmOutcome {
  planned,  // --dry-run
  warmed,   // every planned page faulted
  failed,   // a mapping or a fault failed (everything was unmapped)
  nothing,  // no free pages in any pool
  skipped   // --apply did not complete, so nothing was warmed
};
const char* warm_outcome_name(WarmOutcome o);

struct WarmResult {
  std::vector<WarmTarget> targets;
  WarmOutcome outcome = WarmOutcome::planned;
  std::string note;  // why skipped; what the plan could not count
  int64_t micros = 0;  // wall time of the whole warm-up

  int64_t pages() const;
  int64_t warmed() const;
  uint64_t bytes() const;  // of the planned pages
};

// The pages free now in each pool, per node where the pool lists nodes.
// Pages reserved by running programs (resv_hugepages) are left alone: the
// warm-up takes only what a new mapping can get, so the nodes in id order
// get their free pages until the pool's free-minus-reserved is used up.
// Threads: the usable CPUs, split over the targets by their share of pages.
WarmResult plan_warmup(const std::vector<HugePool>& pools);

// The pools as a dry-run of `request` would leave them (`result`'s planned
// pool actions), for planning a warm-up after --apply --dry-run. A global
// pool change on a host with several nodes is spread by the kernel, so
// that pool loses its node split.
std::vector<HugePool> pools_after_apply(std::vector<HugePool> pools, const ApplyRequest& request,
                                        const ApplyResult& result);

// Called about every 100 ms while warming, with the pages faulted so far.
using WarmProgress = std::function<void(int64_t warmed, int64_t total)>;

// Warms the planned targets of this (live) host, all at once, and fills in
// what happened. Sets outcome to warmed, failed or nothing.
void warm_pools(const HostFiles& files, WarmResult& plan, const WarmProgress& progress);

// 0, or kExitWarmFailed for a failed warm-up.
int warm_exit_status(const WarmResult& result);

}  // namespace hugeshim::doctor
