// The hugetlb pool for the bench's hugetlb rows: grown for the run when it
// is short (root only) and put back to its size on every way out: normal
// return, exit(), SIGINT, SIGTERM, SIGHUP.
#pragma once

#include <cstddef>
#include <string>

namespace hugeshim_bench {

// Pages of `page_size` bytes the host supports at all (sysfs directory).
bool hugetlb_size_exists(size_t page_size);

// Pages of page_size that a new mapping could reserve now (free - resv).
long hugetlb_available(size_t page_size);

// Touches `pages` free pool pages once (map, populate, unmap). On a VM the
// host backs guest memory lazily: a pool page's first touch ever costs
// several times a later one, which would make the hugetlb rows (measured
// first) slower than the shim's (measured on the same pages after them).
void hugetlb_warm(size_t page_size, long pages);

class PoolGuard {
 public:
  // Makes at least `pages` pages of page_size available, growing
  // nr_hugepages when needed. Returns "" or why not (then nothing changed,
  // or the pool was put back).
  std::string ensure(size_t page_size, long pages);
  // Puts every pool this guard grew back to its size (also done by the
  // signal handler and at exit). True when each is back.
  bool restore();
  long grown_pages() const;

  PoolGuard();
  ~PoolGuard();
  PoolGuard(const PoolGuard&) = delete;
  PoolGuard& operator=(const PoolGuard&) = delete;
};

}  // namespace hugeshim_bench
