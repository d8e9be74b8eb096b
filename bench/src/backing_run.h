// One measurement: a fresh mapping of one backing and size, timed phase by
// phase, then unmapped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "cuda_runtime.h"

namespace hugeshim_bench {

enum class Backing { base, thp, hugetlb_2m, hugetlb_1g, shim };
constexpr Backing kBackings[] = {Backing::base, Backing::thp, Backing::hugetlb_2m, Backing::hugetlb_1g, Backing::shim};
const char* backing_name(Backing b);  // "base", "thp", "hugetlb-2M", "hugetlb-1G", "shim"

enum Phase { kReserve, kPopulate, kLock, kRegister, kHostAlloc, kPhaseCount };
const char* phase_name(int phase);  // "reserve", "populate", "mlock", "cudaHostRegister", "cudaHostAlloc"

// Seconds per phase; -1: not run (no GPU, or the backing has no such phase).
struct Sample {
  double seconds[kPhaseCount] = {-1, -1, -1, -1, -1};
  uint64_t huge_bytes = 0;  // of the range, after populate (THP or hugetlb)
  std::string error;        // non-empty: the measurement failed (why)
};

// Measures base, thp and hugetlb backings in this process.
Sample measure_here(Backing b, size_t size, const CudaRuntime& cuda);

// Measures the shim's default path: a child (this executable, --child)
// with `shim` preloaded mallocs `size`, populates it (MADV_POPULATE_WRITE),
// mlocks it, and with a GPU registers it and times a cudaHostAlloc of the
// same size; cudaHostAlloc without the shim is timed here for base pages.
Sample measure_shim(const std::string& self, const std::string& shim, size_t size, bool cuda);

// The child's side of measure_shim: prints one line of results. Returns the
// exit status.
int shim_child(size_t size, bool cuda);

// Huge-page bytes of [p, p + len) from /proc/self/smaps (hugetlb VMAs and
// AnonHugePages, prorated).
uint64_t huge_bytes_of(const void* p, size_t len);

}  // namespace hugeshim_bench
