// A private telemetry ring directory for programs run under the shim, and
// what their shims left in it: the evidence, from the programs themselves,
// of what the shim did with their large calls.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "hugeshim/ring.h"
#include "process.h"

namespace hugeshim_test {

// The segments of a ring directory once their producers have exited.
struct RingContents {
  size_t segments = 0;
  // Per API, summed over segments. Exact: counters are updated for every
  // event, also when a full ring dropped its record (docs/RING.md).
  hugeshim_ring_api_counters counters[HUGESHIM_API_COUNT] = {};
  std::vector<hugeshim_ring_record> records;  // every record still in a ring
};

class RingDir {
 public:
  RingDir();   // a fresh directory under /tmp
  ~RingDir();  // removed with everything in it
  RingDir(const RingDir&) = delete;
  RingDir& operator=(const RingDir&) = delete;

  const std::string& path() const { return path_; }
  // `env` plus the shim's telemetry on, written here.
  Env recording(Env env = {}) const;
  // Drains every segment: once, after the programs have exited.
  RingContents drain() const;

 private:
  std::string path_;
};

}  // namespace hugeshim_test
