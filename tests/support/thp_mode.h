// Boost.Test preconditions on the host's THP mode (thp_mode() in process.h).
// Some expectations mean something only in some modes; such a case is
// skipped elsewhere, and the log (--log_level=test_suite) names the host's
// mode and what the case needs.
#pragma once

#include <boost/test/unit_test.hpp>

#include <string>

#include "process.h"

namespace hugeshim_test {

// THP on: the shim's thp rung advises its memory (it skips the rung when
// the mode is "never"), and advised memory faults in huge.
inline bool thp_enabled() {
  const std::string mode = thp_mode();
  return mode == "always" || mode == "madvise";
}

// THP only where advised: unadvised anonymous memory stays on base pages
// ("always" backs it with THP as well).
inline bool thp_only_where_advised() {
  const std::string mode = thp_mode();
  return mode == "madvise" || mode == "never";
}

namespace detail {

inline boost::unit_test::precondition thp_precondition(bool (*holds)(), const char* need) {
  return boost::unit_test::precondition([holds, need](boost::unit_test::test_unit_id) {
    boost::test_tools::assertion_result result(holds());
    result.message() << "THP mode is '" << thp_mode() << "' on this host; the case needs " << need;
    return result;
  });
}

}  // namespace detail

inline boost::unit_test::precondition needs_thp_enabled() {
  return detail::thp_precondition(thp_enabled, "THP enabled (always or madvise)");
}

inline boost::unit_test::precondition needs_thp_only_where_advised() {
  return detail::thp_precondition(thp_only_where_advised, "THP only where advised (madvise or never)");
}

}  // namespace hugeshim_test
