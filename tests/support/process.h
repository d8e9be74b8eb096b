// Test support: run programs (optionally under the shim), talk to a probe
// over pipes, read /proc and sysfs from the outside, and size the hugetlb pool.
//
// The hugetlb pool is one per machine and CTest runs tests in parallel, so a
// test that takes pool pages while another counts them breaks the other.
// Rule: a test touches the pool (sizes it, reads its HugePages_* counters,
// or runs the shim with a ladder that can reach it) only while holding
// CTest's RESOURCE_LOCK hugetlb_pool. Every other test runs the shim with a
// pool-free ladder and takes its evidence from the process's own smaps or
// ring. The helpers below enforce it: with_shim() defaults HUGESHIM_PAGES to
// kPoolFreeLadder, and with_shim(), HugePool and meminfo("HugePages_...")
// throw std::logic_error in a test built without the lock. A test that starts
// the shim another way (the CLI's `hugeshim run`, its own LD_PRELOAD) sets
// HUGESHIM_PAGES=kPoolFreeLadder itself unless it holds the lock.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace hugeshim_test {

using Env = std::map<std::string, std::string>;

struct RunResult {
  int status = -1;  // exit code, or 128 + signal
  std::string out;
  std::string err;
};

// Runs argv with the current environment plus `env` (a value "" unsets),
// stdin from `input`; waits and captures stdout/stderr.
RunResult run(const std::vector<std::string>& argv, const Env& env = {}, const std::string& input = "");

// Whether this test executable holds RESOURCE_LOCK hugetlb_pool: defined in
// pool_lock.cpp, which hugeshim_test() compiles into every test from its
// RESOURCE_LOCK argument (tests/CMakeLists.txt).
bool holds_pool_lock();

// HUGESHIM_PAGES values for with_shim(). kPoolFreeLadder never maps hugetlb
// pages; kShimDefaultLadder leaves the variable unset, so the shim uses its
// own default (1G,2M,thp), which does.
inline constexpr const char* kPoolFreeLadder = "thp";
inline constexpr const char* kShimDefaultLadder = "";

// Whether a shim run with this HUGESHIM_PAGES value can take pool pages:
// true unless every rung is thp or base (an invalid ladder means the
// default, which reaches the pool).
bool ladder_reaches_pool(const std::string& pages);

// Env that preloads the freshly built shim, with telemetry off unless asked
// and HUGESHIM_PAGES = kPoolFreeLadder unless given. Throws std::logic_error
// when the ladder reaches the pool and the test does not hold the lock.
Env with_shim(Env env = {});

// A child process driven line by line: send() a command, read_line() its answer.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const Env& env);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  void send(const std::string& line);
  std::string read_line();           // "" at EOF
  std::string ask(const std::string& line) { send(line); return read_line(); }
  int wait();                         // exit code or 128 + signal; closes stdin first
  std::string stderr_text();          // everything written to stderr (after wait)

 private:
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1;
  std::string err_path_;
  std::string buffer_;
  int status_ = -1;
};

// Sums of one mapping range's smaps fields in kB, over every VMA that
// overlaps [addr, addr + len).
struct SmapsSummary {
  uint64_t size_kb = 0;
  uint64_t anon_huge_kb = 0;
  uint64_t hugetlb_kb = 0;           // Private_Hugetlb + Shared_Hugetlb
  uint64_t rss_kb = 0;               // resident base/THP memory (hugetlb not included)
  std::map<uint64_t, uint64_t> kb_by_page_size;  // KernelPageSize (kB) -> bytes (kB) of VMAs
};
SmapsSummary smaps_range(pid_t pid, uint64_t addr, uint64_t len);
SmapsSummary smaps_process(pid_t pid);  // every VMA of the process

// The VmFlags line of the VMA containing addr, with a space after each flag
// ("" if none): " hg " marks MADV_HUGEPAGE advice, " ht " a hugetlb mapping,
// " lo " an mlocked one.
std::string vm_flags(pid_t pid, uint64_t addr);

// A /proc/meminfo value, e.g. "AnonHugePages"; -1 if absent. The pool's
// counters (HugePages_*) are global: reading one throws std::logic_error in
// a test that does not hold the pool lock, since other tests may move them.
long meminfo(const std::string& key);

// The host's THP mode: the bracketed word of
// /sys/kernel/mm/transparent_hugepage/enabled ("always", "madvise" or
// "never"), "" when unreadable.
std::string thp_mode();

// Sets nr_hugepages (2 MiB) for the lifetime of the object, restoring the
// previous value after. Throws if the kernel gives fewer pages than asked,
// and std::logic_error in a test that does not hold the pool lock.
class HugePool {
 public:
  explicit HugePool(long pages);
  ~HugePool();
  long free_pages() const { return meminfo("HugePages_Free"); }

 private:
  long previous_;
};

std::string read_file(const std::string& path);
std::string shim_path();
std::string bin_dir();

}  // namespace hugeshim_test
