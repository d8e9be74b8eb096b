#include "core/fallback.h"

#include <cstring>

#include "hugeshim/events.h"
#include "hugeshim/log.h"

namespace hugeshim {
namespace {

bool g_explained[HUGESHIM_FALLBACK_COUNT];

const char* explain(uint32_t reason) {
  switch (reason) {
    case HUGESHIM_FALLBACK_POOL_EMPTY:
      return "the hugetlb pool cannot cover it (raise /proc/sys/vm/nr_hugepages or run `hugeshim doctor`)";
    case HUGESHIM_FALLBACK_SIZE_BELOW_PAGE: return "it is smaller than any huge page in HUGESHIM_PAGES";
    case HUGESHIM_FALLBACK_MMAP_ERROR: return "mmap of huge pages failed";
    case HUGESHIM_FALLBACK_MBIND_FAILED: return "the NUMA policy could not be applied";
    case HUGESHIM_FALLBACK_NOT_IN_LADDER: return "HUGESHIM_PAGES allows no huge page size";
    case HUGESHIM_FALLBACK_THP_DISABLED: return "transparent huge pages are disabled or refused the advice";
    case HUGESHIM_FALLBACK_ARENA_FULL: return "the shim's address-space arena is full";
    case HUGESHIM_FALLBACK_ALIGNMENT: return "its alignment is above 1 GiB";
    case HUGESHIM_FALLBACK_POPULATE_FAILED: return "pre-faulting its pages failed";
    case HUGESHIM_FALLBACK_LOCK_FAILED: return "mlock failed (check `ulimit -l`)";
    case HUGESHIM_FALLBACK_CUDA_FLAGS: return "its CUDA flags (write-combined) have no cudaHostRegister equivalent";
    case HUGESHIM_FALLBACK_REGISTER_FAILED: return "registering it with CUDA failed, so it was pinned natively";
    case HUGESHIM_FALLBACK_FILE_UNSUITABLE:
      return "the file cannot be copied (open for writing somewhere, not opened read-only, mapped past its end, or not a regular file)";
    case HUGESHIM_FALLBACK_REGISTER_LIMIT: return "it is larger than HUGESHIM_REGISTER_MAX, so it was allocated natively";
    case HUGESHIM_FALLBACK_REGISTER_REFUSED:
      return "the CUDA runtime refuses every cudaHostRegister (cudaErrorNotSupported, e.g. a Confidential Computing guest), so it was allocated natively";
    case HUGESHIM_FALLBACK_THP_FRAGMENTED:
      return "recent THP faults fell back to base pages or cost more than base pages (fragmented memory), so base pages were used; THP is tried again later";
    default: return "see the reason code";
  }
}

}  // namespace

void fallback_note(uint32_t reason, int err, uint64_t requested) {
  if (reason == HUGESHIM_FALLBACK_NONE || reason >= HUGESHIM_FALLBACK_COUNT) return;
  if (g_options.log < LogLevel::info) return;
  // One line per reason kind: the first thread to flip the flag prints it.
  if (__atomic_exchange_n(&g_explained[reason], true, __ATOMIC_RELAXED)) return;
  log_at(LogLevel::info, "fallback %s: a %llu-byte request did not get its best page size because %s%s%s",
         hugeshim_fallback_name(reason), static_cast<unsigned long long>(requested), explain(reason),
         err ? ": " : "", err ? strerrorname_np(err) : "");
}

}  // namespace hugeshim
