// A recording for the timeline tests: timeline_workload.py run by
// `hugeshim run` under the real shim, with pool-free settings (thp ladder;
// these tests do not hold the hugetlb pool lock) that make every phase but
// register run: eager populate, mlock, a 1 MiB threshold.
#pragma once

#include "temp_dir.h"

#include <boost/test/unit_test.hpp>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace hugeshim_timeline_test {

inline const std::string kHugeshim = std::string(HUGESHIM_BIN_DIR) + "/hugeshim";

using TempDir = hugeshim_test::TempDir;

struct Output {
  int status;
  std::string out;
};

// Runs a shell command line, capturing stdout; exit status or -1 when a
// signal ended it.
inline Output shell(const std::string& command) {
  fflush(nullptr);
  FILE* p = popen(command.c_str(), "r");
  if (!p) throw std::runtime_error("popen failed");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// Records the workload into dir/run.db and returns the path; `extra_arg`
// goes on the workload's command line (single-quoted: no quotes in it).
inline std::string record_workload(const TempDir& dir, const std::string& extra_arg = "") {
  const std::string db = dir.file("run.db");
  const std::string command =
      "HUGESHIM_PAGES=thp HUGESHIM_POPULATE=eager HUGESHIM_PIN=mlock HUGESHIM_MIN_SIZE=1M HUGESHIM_CACHE=0 " +
      kHugeshim + " run --format none -o " + db + " -- /usr/bin/python3 " + HUGESHIM_SOURCE_DIR +
      "/tests/observability/timeline_workload.py" + (extra_arg.empty() ? "" : " '" + extra_arg + "'") + " 2>" +
      dir.file("run.err");
  const Output run = shell(command);
  BOOST_TEST_MESSAGE(slurp(dir.file("run.err")));
  BOOST_REQUIRE_EQUAL(run.status, 0);
  return db;
}

}  // namespace hugeshim_timeline_test
