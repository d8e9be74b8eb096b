// Running cuda_app under the shim with a private ring directory, and reading
// back what it printed and what it recorded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hugeshim/ring.h"
#include "process.h"

namespace cuda_test {

struct DoubleCall {
  int op;
  uint64_t ptr;
  uint64_t size;
  unsigned flags;
  int result;
};

struct AppRun {
  int status = -1;
  std::vector<std::string> lines;   // one answer per command
  std::string err;
  std::vector<hugeshim_ring_record> records;  // every record of every ring written
};

// Shim settings of the CUDA tests: 4 MiB threshold, the default
// registration limit, 2 MiB pages, no cache, malloc and CUDA intercepted
// (mmap not, so an anonymous mmap is foreign memory), telemetry into a fresh
// directory. The 2M ladder reaches the hugetlb pool: a test without
// RESOURCE_LOCK hugetlb_pool passes HUGESHIM_PAGES=thp in `extra`.
hugeshim_test::Env cuda_env(hugeshim_test::Env extra = {});

// Runs bin/<app> with `script` on stdin (preloading the shim unless
// `preload` is false) and collects its answers and ring records.
AppRun run_app(const std::string& app, const std::string& script, hugeshim_test::Env env,
               bool preload = true);

// Parses a "calls ..." answer line of cuda_app.
std::vector<DoubleCall> parse_calls(const std::string& line);

// Value of key=... in an answer line ("" if absent).
std::string field(const std::string& line, const std::string& key);

// Records of one API.
std::vector<hugeshim_ring_record> of_api(const AppRun& run, uint32_t api);

}  // namespace cuda_test
