// A started alloc_probe under the shim, with typed helpers for tests.
#pragma once

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <sstream>
#include <string>

#include "process.h"

namespace hugeshim_test {

inline std::string probe_path() { return bin_dir() + "/alloc_probe"; }

struct Answer {
  uint64_t addr = 0;
  int code = 0;
};

class Probe {
 public:
  explicit Probe(const Env& env) : child_({probe_path()}, env) {}
  Answer call(const std::string& line) {
    std::istringstream in(child_.ask(line));
    Answer a;
    in >> std::hex >> a.addr >> std::dec >> a.code;
    return a;
  }
  std::string ask(const std::string& line) { return child_.ask(line); }
  static std::string hex(uint64_t v) {
    std::ostringstream o;
    o << std::hex << v;
    return o.str();
  }
  void fill(uint64_t addr, uint64_t n, int byte) {
    BOOST_REQUIRE_EQUAL(ask("fill " + hex(addr) + " " + std::to_string(n) + " " + std::to_string(byte)), "ok");
  }
  std::string check(uint64_t addr, uint64_t n, int byte) {
    return ask("check " + hex(addr) + " " + std::to_string(n) + " " + std::to_string(byte));
  }
  int free(uint64_t addr) {
    std::istringstream in(ask("free " + hex(addr)));
    std::string ok;
    int err = 0;
    in >> ok >> err;
    BOOST_REQUIRE_EQUAL(ok, "ok");
    return err;
  }
  uint64_t usable(uint64_t addr) { return std::stoull(ask("usable " + hex(addr))); }
  pid_t pid() const { return child_.pid(); }
  int finish() {
    child_.send("quit");
    return child_.wait();
  }
  std::string stderr_text() { return child_.stderr_text(); }

 private:
  Child child_;
};

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;

}  // namespace hugeshim_test
