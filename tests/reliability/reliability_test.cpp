// Reliability of the malloc family under the shim where a careless or hostile
// program goes (issue "Reliability"): each case runs reliability_probe under
// the shim and expects what glibc alone does.
#define BOOST_TEST_MODULE reliability
#include <boost/test/unit_test.hpp>

#include "process.h"

using namespace hugeshim_test;

namespace {

RunResult probe(const std::vector<std::string>& args, Env env) {
  std::vector<std::string> argv{bin_dir() + "/reliability_probe"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, with_shim(std::move(env)));
}

void expect_ok(const RunResult& r) {
  BOOST_TEST_MESSAGE(r.out << r.err);
  BOOST_CHECK_EQUAL(r.status, 0);
  BOOST_CHECK_EQUAL(r.out.rfind("ok", 0), 0u);
}

}  // namespace

// HUGESHIM_ON_FALLBACK=fail with a ladder that cannot be served here (no
// 1 GiB pages on this host, and 8 MiB is below one anyway): a heap block
// realloc'ed past the threshold must fail with ENOMEM, not land on the heap.
BOOST_AUTO_TEST_CASE(realloc_of_a_heap_block_obeys_on_fallback_fail) {
  expect_ok(probe({"realloc-refused", "heap", "8"},
                  {{"HUGESHIM_PAGES", "1G"}, {"HUGESHIM_ON_FALLBACK", "fail"}, {"HUGESHIM_MIN_SIZE", "4MiB"}}));
}

// A region on 2 MiB pages (pool of 2 pages: exactly its 4 MiB) grown to
// 64 MiB: neither in place (pool empty) nor by a move may it step down the
// ladder or go to the real malloc.
BOOST_AUTO_TEST_CASE(growing_a_region_obeys_on_fallback_fail) {
  HugePool pool(2);
  expect_ok(probe({"realloc-refused", "region", "64"},
                  {{"HUGESHIM_PAGES", "2M"}, {"HUGESHIM_ON_FALLBACK", "fail"}, {"HUGESHIM_MIN_SIZE", "4MiB"}}));
}

// The same programs without ON_FALLBACK=fail succeed (the probe then reports
// FAIL "realloc succeeded"): the refusal above is the option's doing.
BOOST_AUTO_TEST_CASE(realloc_without_fail_mode_succeeds) {
  RunResult r = probe({"realloc-refused", "heap", "8"}, {{"HUGESHIM_PAGES", "1G"}, {"HUGESHIM_MIN_SIZE", "4MiB"}});
  BOOST_CHECK_EQUAL(r.status, 1);
  BOOST_CHECK_EQUAL(r.out.rfind("FAIL realloc succeeded", 0), 0u);
}

// calloc that reuses a cached region zeroes everything malloc_usable_size
// reports, as glibc's calloc does.
BOOST_AUTO_TEST_CASE(calloc_over_a_cached_region_is_zero_to_its_usable_size) {
  RunResult r = probe({"calloc-cached"}, {{"HUGESHIM_PAGES", "thp"}, {"HUGESHIM_MIN_SIZE", "4MiB"}});
  expect_ok(r);
  BOOST_CHECK_NE(r.out.find("reused"), std::string::npos);  // the case under test happened
}

// HUGESHIM_PIN=mlock: madvise(MADV_DONTNEED/MADV_FREE) on shim memory (malloc
// regions and redirected mmaps) succeeds and DONTNEED reads zero afterwards,
// as it would on the program's own unlocked memory.
BOOST_AUTO_TEST_CASE(dontneed_and_free_advice_on_mlocked_shim_memory) {
  Env env{{"HUGESHIM_PAGES", "thp"}, {"HUGESHIM_MIN_SIZE", "4MiB"}, {"HUGESHIM_PIN", "mlock"}};
  RunResult dontneed = probe({"dontneed-locked"}, env);
  expect_ok(dontneed);
  long before = -1, after = -1;
  BOOST_REQUIRE_EQUAL(std::sscanf(dontneed.out.c_str(), "ok locked_kb %ld %ld", &before, &after), 2);
  BOOST_CHECK_GE(before, 24 * 1024);  // both ranges were locked by the shim...
  BOOST_CHECK_EQUAL(after, before);   // ...and are locked again after the advice
  expect_ok(probe({"free-locked"}, env));
}

// free() of a large block from a signal handler that interrupts the shim's
// own slow path (a 200 us timer for 3 s over a loop of large malloc/free)
// completes, as with glibc. Before the deferred release it hung on the
// arena lock; the timeout turns a hang into a failure.
BOOST_AUTO_TEST_CASE(free_from_a_signal_handler_never_blocks) {
  RunResult r = run({"timeout", "-s", "KILL", "60", bin_dir() + "/reliability_probe", "free-in-handler", "3"},
                    with_shim({{"HUGESHIM_PAGES", "thp"}, {"HUGESHIM_MIN_SIZE", "4MiB"}}));
  expect_ok(r);
  long rounds = 0, handler_frees = 0;
  BOOST_REQUIRE_EQUAL(std::sscanf(r.out.c_str(), "ok rounds %ld handler_frees %ld", &rounds, &handler_frees), 2);
  BOOST_CHECK_GT(handler_frees, 100);  // the handler really freed, many times
}
