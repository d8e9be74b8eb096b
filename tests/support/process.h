// Test support: run programs (optionally under the shim), talk to a probe
// over pipes, read /proc and sysfs from the outside, and size the hugetlb pool.
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

// Env that preloads the freshly built shim, with telemetry off unless asked.
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

long meminfo(const std::string& key);  // e.g. "HugePages_Free"; -1 if absent

// Sets nr_hugepages (2 MiB) for the lifetime of the object, restoring the
// previous value after. Throws if the kernel gives fewer pages than asked.
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
