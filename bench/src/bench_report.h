// Turning samples into the bench's results: per backing, size and phase the
// median seconds per GiB with min and max over the repeats, and the ratio of
// the median to base pages' median (same size, same phase). Text table and
// JSON (schema "hugeshim-bench/1", docs/BENCHMARKS.md).
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backing_run.h"

namespace hugeshim_bench {

struct Cell {
  std::vector<double> per_gib;  // seconds per GiB, one per repeat
  double median = 0, min = 0, max = 0;
};

struct Results {
  // (backing, size) -> samples in run order
  std::map<std::pair<int, size_t>, std::vector<Sample>> samples;
  std::map<std::string, std::string> skipped;  // backing -> why
  nlohmann::json host;                         // machine description
  std::vector<size_t> sizes;
  int repeat = 0;
  double wall_seconds = 0;
  bool pool_restored = true;
};

nlohmann::json to_json(const Results& r);
std::string to_text(const Results& r);

}  // namespace hugeshim_bench
