// What the in-process arena tests need of the arena's window (core/arena.h):
// its first kArenaPrefix bytes unmapped when the tests start. The window is
// only address space the kernel does not hand out by itself; a process whose
// other mappings cover it (ThreadSanitizer's shadow covers 1-32 TiB) leaves
// the arena nothing to test with there, and those tests are skipped with
// that reason. The tests place everything first-fit from the window's base,
// within the prefix, and check that it is all free again afterwards.
#pragma once

#include <boost/test/unit_test.hpp>

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <string>

#include "core/arena.h"

namespace hugeshim::test {

// The smallest window the arena picks, and more than any test places.
constexpr size_t kArenaPrefix = size_t{64} << 30;

// A mapping of this process overlapping [lo, hi), or "".
inline std::string mapping_over(uintptr_t lo, uintptr_t hi) {
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    uintptr_t a = 0, b = 0;
    if (sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR, &a, &b) == 2 && a < hi && lo < b) return line;
  }
  return {};
}

// Whether the window's prefix is free in the arena (taken and given back
// at once). Takes the arena lock unless the caller holds it.
inline bool arena_prefix_free(bool lock = true) {
  if (lock) arena_lock();
  const bool free = arena_take_at(g_arena_base, kArenaPrefix);
  if (free) arena_give(g_arena_base, kArenaPrefix);
  if (lock) arena_unlock();
  return free;
}

// Boost.Test precondition: the window's prefix is unmapped.
struct arena_window_unmapped {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
    const std::string in_the_way = mapping_over(g_arena_base, g_arena_base + kArenaPrefix);
    boost::test_tools::assertion_result r{in_the_way.empty()};
    r.message() << "the arena window's first 64 GiB are mapped by someone else: " << in_the_way;
    return r;
  }
};

}  // namespace hugeshim::test
