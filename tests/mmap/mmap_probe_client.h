// Helpers for driving mmap_probe: whole scripts (for with/without-shim
// comparisons) and an interactive child (for looking at it from outside).
#pragma once

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

#include "process.h"

namespace hugeshim_test {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;

inline std::string mmap_probe_path() { return bin_dir() + "/mmap_probe"; }

// Runs a script through mmap_probe; output lines prefixed by their command
// so that a difference reads as "which step".
inline std::string run_script(const std::string& script, const Env& env) {
  RunResult r = run({mmap_probe_path()}, env, script + "quit\n");
  BOOST_REQUIRE_MESSAGE(r.status == 0, "mmap_probe exit " << r.status << ": " << r.err);
  std::istringstream cmds(script), outs(r.out);
  std::string cmd, out, joined;
  while (std::getline(cmds, cmd)) {
    if (cmd.empty()) continue;
    std::getline(outs, out);
    joined += cmd + " => " + out + "\n";
  }
  return joined;
}

// Compares a script's output without the shim and under `shim_env`, line by line.
inline void same_as_kernel(const std::string& script, const Env& shim_env) {
  std::string plain = run_script(script, {});
  std::string shimmed = run_script(script, with_shim(shim_env));
  std::istringstream p(plain), s(shimmed);
  std::string pl, sl;
  while (std::getline(p, pl)) {
    std::getline(s, sl);
    BOOST_CHECK_EQUAL(sl, pl);
  }
  BOOST_CHECK(plain.find("unknown") == std::string::npos);
}

class MmapProbe {
 public:
  explicit MmapProbe(const Env& env) : child_({mmap_probe_path()}, env) {}
  std::string ask(const std::string& line) { return child_.ask(line); }
  uint64_t addr(const std::string& expr) { return std::stoull(ask("addr " + expr), nullptr, 16); }
  pid_t pid() const { return child_.pid(); }
  int finish() {
    child_.send("quit");
    return child_.wait();
  }
  std::string stderr_text() { return child_.stderr_text(); }

 private:
  Child child_;
};

// The /proc/PID/maps line of the VMA containing addr.
inline std::string maps_line(pid_t pid, uint64_t addr) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/maps");
  std::string line;
  while (std::getline(f, line)) {
    unsigned long lo, hi;
    if (sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && lo <= addr && addr < hi) return line;
  }
  return "";
}

}  // namespace hugeshim_test
