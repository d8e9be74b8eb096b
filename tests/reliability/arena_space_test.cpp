// The arena is the program's address space too (issue 11, item 4; DESIGN.md
// "Shim rules"): a program's MAP_FIXED, MAP_FIXED_NOREPLACE or hint at arena
// address space the shim is not using gets what the kernel gives for free
// space, the arena does not count against RLIMIT_AS beyond what it uses, and
// a glibc block that lands in the arena's window stays glibc's. Each case
// runs arena_space_probe under the shim (THP ladder: the hugetlb pool is
// never touched) and expects "ok".
#define BOOST_TEST_MODULE arena_space
#include <boost/test/unit_test.hpp>

#include "process.h"

using namespace hugeshim_test;

namespace {

// No cache: a freed block's address space goes back at once, so the probe
// can use it as free address space.
RunResult probe(const std::vector<std::string>& args) {
  std::vector<std::string> argv{bin_dir() + "/arena_space_probe"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, with_shim({{"HUGESHIM_PAGES", kPoolFreeLadder},
                              {"HUGESHIM_CACHE", "0"},
                              {"HUGESHIM_MIN_SIZE", "4MiB"}}));
}

void expect_ok(const RunResult& r) {
  BOOST_TEST_MESSAGE(r.out << r.err);
  BOOST_CHECK_EQUAL(r.status, 0);
  BOOST_CHECK_MESSAGE(r.out.rfind("ok", 0) == 0, r.out);
}

}  // namespace

// A 256 MiB MAP_FIXED mapping where a freed block was, then eight
// malloc(32 MiB): the mapping keeps its contents and the blocks come from
// the shim elsewhere.
BOOST_AUTO_TEST_CASE(map_fixed_in_the_window_survives_later_mallocs) { expect_ok(probe({"map-fixed"})); }

BOOST_AUTO_TEST_CASE(map_fixed_noreplace_at_a_free_window_address_succeeds) { expect_ok(probe({"noreplace"})); }

// Small (straight to the kernel) and large (the shim's own mmap path).
BOOST_AUTO_TEST_CASE(a_hint_at_a_free_window_address_is_honoured) {
  expect_ok(probe({"hint", "1"}));
  expect_ok(probe({"hint", "16"}));
}

// RLIMIT_AS 100 GiB: the program reserves 80 GiB and still gets large
// blocks from the shim.
BOOST_AUTO_TEST_CASE(the_arena_leaves_rlimit_as_to_the_program) { expect_ok(probe({"rlimit-as"})); }

// glibc's mmap placed in the window (the probe uses up the address space
// above it): malloc_usable_size, realloc and free reach glibc, and no
// warning is printed about a pointer the shim does not own.
BOOST_AUTO_TEST_CASE(a_glibc_block_in_the_window_stays_glibcs) {
  RunResult r = probe({"glibc-in-window"});
  expect_ok(r);
  BOOST_CHECK_MESSAGE(r.err.find("hugeshim") == std::string::npos, r.err);
}

// In-place growth stops at the program's own mapping right after a block.
BOOST_AUTO_TEST_CASE(realloc_does_not_grow_over_a_program_mapping) {
  expect_ok(probe({"grow-past-program-mapping"}));
}

// A double free of a block whose address space was given back is reported
// and ignored, as before (not passed to glibc, which would crash on it).
BOOST_AUTO_TEST_CASE(a_double_free_is_still_reported_and_ignored) {
  RunResult r = probe({"double-free"});
  expect_ok(r);
  BOOST_CHECK_MESSAGE(r.err.find("double free") != std::string::npos, r.err);
}
