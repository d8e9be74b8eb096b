// 8 threads x 200k mixed small/large malloc/calloc/realloc/free operations
// under the shim: every pattern checked, no crash, the pool back to its start.
#define BOOST_TEST_MODULE stress
#include <boost/test/unit_test.hpp>

#include "process.h"

using namespace hugeshim_test;

BOOST_AUTO_TEST_CASE(eight_threads_mixed_operations) {
  HugePool pool(128);
  long free_before = meminfo("HugePages_Free");
  RunResult r = run({bin_dir() + "/malloc_stress", "8", "200000", "20"},
                    with_shim({{"HUGESHIM_MIN_SIZE", "1MiB"}, {"HUGESHIM_PAGES", "2M,thp"}}));
  BOOST_TEST_MESSAGE(r.err);
  BOOST_CHECK_EQUAL(r.status, 0);
  BOOST_CHECK_EQUAL(r.out, "errors 0\n");
  BOOST_CHECK_EQUAL(meminfo("HugePages_Free"), free_before);
}

BOOST_AUTO_TEST_CASE(same_workload_without_the_shim_is_clean) {
  // The workload itself is sound: any failure above is the shim's.
  RunResult r = run({bin_dir() + "/malloc_stress", "8", "20000", "20"});
  BOOST_CHECK_EQUAL(r.status, 0);
}
