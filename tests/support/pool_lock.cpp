// Compiled into every test executable by hugeshim_test(), with
// HUGESHIM_TEST_HOLDS_POOL_LOCK from its RESOURCE_LOCK argument: the support
// library asks it before letting the test touch the global hugetlb pool.
#include "process.h"

namespace hugeshim_test {

bool holds_pool_lock() { return HUGESHIM_TEST_HOLDS_POOL_LOCK; }

}  // namespace hugeshim_test
