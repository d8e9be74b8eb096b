// What `hugeshim top` sees: one look at every ring segment of a directory,
// the exact counters of each header, without consuming anything. A
// `hugeshim record` may be draining the same rings: a sample opens each
// segment read-only, takes no lock, never writes (not even the
// reader_attached flag), and goes through the hostile-input reader
// (RingView::validate, identity, totals) under the SIGBUS guard.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "ring_reader.h"

namespace hugeshim::collector {

struct ProcessSample {
  std::string segment;  // file name in the directory
  RingIdentity identity;
  RingTotals totals;
  const char* state = "running";  // running, exited, execed, killed (gone without its exit path)
};

struct DirectorySample {
  std::chrono::steady_clock::time_point taken;
  std::vector<ProcessSample> processes;
  std::vector<std::string> refused;  // "name: why" of segments that could not be read
};

// Throws std::runtime_error with one line when the directory cannot be
// opened or listed, or belongs to another user.
DirectorySample sample_ring_directory(const std::string& dir);

}  // namespace hugeshim::collector
