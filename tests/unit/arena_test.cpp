// The arena (core/arena.h): a window of address space reserved only span by
// span, granules handed out first-fit with absolute alignment, taken at
// fixed addresses, and given back (unmapped) with the free extents
// coalesced. Every case leaves the window's first kArenaPrefix bytes whole
// (one free run), which whole() checks by taking them at once; the cases are
// skipped where other mappings occupy that prefix (arena_window.h).
#define BOOST_TEST_MODULE arena
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "arena_window.h"
#include "core/arena.h"

using namespace hugeshim;

namespace {

constexpr size_t G = kGranule;

struct ArenaReserved {
  ArenaReserved() {
    if (!arena_init()) throw std::runtime_error("arena_init could not reserve the arena");
  }
};

// The arena functions require the lock; the cases hold it throughout.
struct Locked {
  Locked() { arena_lock(); }
  ~Locked() { arena_unlock(); }
};

uintptr_t base() { return g_arena_base; }

// True when the window's prefix is free and coalesced (caller holds the lock).
bool whole() { return test::arena_prefix_free(false); }

// The /proc/self/maps line of the mapping containing addr.
std::string mapping_of(uintptr_t addr) {
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    uintptr_t lo = 0, hi = 0;
    if (sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR, &lo, &hi) == 2 && lo <= addr && addr < hi) return line;
  }
  return {};
}

}  // namespace

BOOST_TEST_GLOBAL_FIXTURE(ArenaReserved);
BOOST_AUTO_TEST_SUITE(window, *boost::unit_test::precondition(test::arena_window_unmapped()))

BOOST_AUTO_TEST_CASE(init_picks_a_gib_aligned_window_and_reserves_none_of_it) {
  BOOST_TEST(g_arena_size >= (size_t{64} << 30));
  BOOST_TEST(g_arena_size % kPage1G == 0u);
  BOOST_TEST(base() % kPage1G == 0u);
  BOOST_TEST(arena_contains(as_ptr(base())));
  BOOST_TEST(arena_contains(as_ptr(base() + g_arena_size - 1)));
  BOOST_TEST(!arena_contains(as_ptr(base() - 1)));
  BOOST_TEST(!arena_contains(as_ptr(base() + g_arena_size)));
  BOOST_TEST(!arena_contains(nullptr));
  // The window stays the program's address space: nothing mapped at init.
  BOOST_TEST(test::mapping_over(base(), base() + test::kArenaPrefix).empty());
  Locked lock;
  // A taken span is reserved (PROT_NONE), exactly that span; given back, it
  // is unmapped again.
  const uintptr_t a = arena_take(2 * G, G);
  BOOST_REQUIRE(a == base());
  std::string taken = mapping_of(a);
  BOOST_TEST(taken.find(" ---p ") != std::string::npos, taken);
  BOOST_TEST(mapping_of(a + 2 * G - 1) == taken);
  BOOST_TEST(mapping_of(a + 2 * G).empty());
  arena_give(a, 2 * G);
  BOOST_TEST(mapping_of(a).empty());
  BOOST_TEST(whole());
}

BOOST_AUTO_TEST_CASE(take_is_first_fit_and_aligns_in_absolute_addresses) {
  Locked lock;
  const uintptr_t a = arena_take(G, G);
  const uintptr_t b = arena_take(3 * G, G);
  BOOST_TEST(a == base());
  BOOST_TEST(b == base() + G);
  // Skips the rest of the first GiB to reach the next 1 GiB boundary.
  const uintptr_t c = arena_take(G, kPage1G);
  BOOST_TEST(c == base() + kPage1G);
  // Alignment beyond the base's own (1 GiB) counts from address zero.
  const size_t big_align = size_t{8} << 30;
  const uintptr_t d = arena_take(2 * G, big_align);
  BOOST_TEST(d % big_align == 0u);
  BOOST_TEST(d == round_up(c + G, big_align));
  // The hole left before c is still first in line.
  const uintptr_t e = arena_take(kPage1G - 4 * G, G);
  BOOST_TEST(e == base() + 4 * G);
  BOOST_TEST(arena_take(G, G) == c + G);
  arena_give(c + G, G);
  for (auto [at, len] : std::array<std::pair<uintptr_t, size_t>, 5>{
           {{a, G}, {b, 3 * G}, {c, G}, {d, 2 * G}, {e, kPage1G - 4 * G}}})
    arena_give(at, len);
  BOOST_TEST(whole());
}

BOOST_AUTO_TEST_CASE(a_full_arena_refuses_until_space_is_given_back) {
  Locked lock;
  BOOST_TEST(arena_take(g_arena_size + G, G) == 0u);
  // Everything free, taken in ever smaller pieces (first fit): one piece when
  // nothing else maps into the window.
  std::vector<std::pair<uintptr_t, size_t>> taken;
  for (size_t len = g_arena_size; len >= G; len /= 2)
    while (uintptr_t at = arena_take(len, G)) taken.emplace_back(at, len);
  BOOST_REQUIRE(!taken.empty());
  BOOST_TEST(taken.front().first == base());
  BOOST_TEST(arena_take(G, G) == 0u);
  BOOST_TEST(!arena_take_at(base(), G));
  // One granule back: exactly that fits, and only at a compatible alignment.
  const uintptr_t hole = base() + 5 * G;
  arena_give(hole, G);
  BOOST_TEST(arena_take(2 * G, G) == 0u);
  BOOST_TEST(arena_take(G, 4 * G) == 0u);  // 5 granules past a GiB boundary: 2 MiB aligned only
  BOOST_TEST(arena_take(G, G) == hole);
  BOOST_TEST(arena_take(G, G) == 0u);
  for (auto [at, len] : taken) arena_give(at, len);
  BOOST_TEST(whole());
}

BOOST_AUTO_TEST_CASE(take_at_takes_only_free_granules_inside_the_arena) {
  Locked lock;
  BOOST_TEST(arena_take_at(base() + 4 * G, 2 * G));
  BOOST_TEST(!arena_take_at(base() + 4 * G, G));      // taken
  BOOST_TEST(!arena_take_at(base() + 3 * G, 2 * G));  // straddles the start
  BOOST_TEST(!arena_take_at(base() + 5 * G, 2 * G));  // straddles the end
  BOOST_TEST(arena_take_at(base() + 6 * G, G));       // adjacent and free
  BOOST_TEST(arena_take(3 * G, G) == base());         // first fit: the gap below
  BOOST_TEST(arena_take(2 * G, G) == base() + 7 * G); // the granule left there is too small
  BOOST_TEST(arena_take(G, G) == base() + 3 * G);
  BOOST_TEST(!arena_take_at(base() - G, G));                          // below
  BOOST_TEST(!arena_take_at(base() + g_arena_size - G, 2 * G));       // past the end
  const uintptr_t last = base() + g_arena_size - G;
  if (test::mapping_over(last, last + G).empty()) {  // nobody else maps there
    BOOST_TEST(arena_take_at(last, G));
    arena_give(last, G);
  }
  arena_give(base(), 9 * G);  // everything taken above: [0, 9) granules
  BOOST_TEST(whole());
}

BOOST_AUTO_TEST_CASE(give_coalesces_with_either_neighbour_in_any_order) {
  // Three adjacent pieces; each order joins the previous extent, the next,
  // both or neither at some step.
  const std::array<std::pair<size_t, size_t>, 3> pieces{{{0, 2}, {2, 3}, {5, 1}}};  // granules
  std::array<int, 3> order{0, 1, 2};
  do {
    BOOST_TEST_CONTEXT("order " << order[0] << order[1] << order[2]) {
      Locked lock;
      BOOST_REQUIRE(arena_take_at(base(), 6 * G));
      for (int i : order) arena_give(base() + pieces[i].first * G, pieces[i].second * G);
      BOOST_TEST(whole());
    }
  } while (std::next_permutation(order.begin(), order.end()));
}

BOOST_AUTO_TEST_CASE(many_separate_holes_merge_back_into_one) {
  Locked lock;
  constexpr size_t kGranules = 256;
  BOOST_REQUIRE(arena_take_at(base(), kGranules * G));
  for (size_t g = 0; g < kGranules; g += 2) arena_give(base() + g * G, G);
  // Only single granules are free below kGranules: a 2-granule take lands after.
  BOOST_TEST(arena_take(2 * G, G) == base() + kGranules * G);
  arena_give(base() + kGranules * G, 2 * G);
  for (size_t g = 1; g < kGranules; g += 2) arena_give(base() + g * G, G);
  BOOST_TEST(whole());
}

BOOST_AUTO_TEST_SUITE_END()
