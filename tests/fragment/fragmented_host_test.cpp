// On a fragmented host (tools/fragment/fragment-memory --no-compaction: one
// pinned base page in every free 2 MiB block, compaction off), THP faults
// fail after a costly attempt. The shim must notice (fallback reason
// thp_fragmented in its ring) and step to base pages. Once the fragmenter
// has exited, the shim takes THP again. The interleaved rounds also time the
// shim's eager mallocs against plain base-page populates and print the
// ratio, but do not assert it: on a shared 2-vCPU machine a timed bound
// (the goal is 1.2x) passes most times, not every time. The goal is checked
// by the benchmark (tools/peers, docs/BENCHMARKS.md "fragmented host").
//
// Needs root (the fragmenter's memory cgroup, mlock, sysctls) and THP in
// `always` or `madvise` mode; otherwise the cases are skipped with a message.
// Runs alone (RUN_SERIAL): while memory is fragmented no other test could
// get THP.
#define BOOST_TEST_MODULE fragmented_host
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <algorithm>
#include <sstream>
#include <vector>

#include "hugeshim/events.h"
#include "process.h"
#include "ring_dir.h"
#include "thp_mode.h"

using namespace hugeshim_test;

namespace {

const std::string kProbe = std::string(HUGESHIM_BIN_DIR) + "/populate_probe";
const std::string kFragmenter = std::string(HUGESHIM_BIN_DIR) + "/fragment-memory";
constexpr int kRounds = 3, kRegions = 16;
constexpr const char* kRegionMiB = "64";

Env shim_env(const RingDir& ring) {
  Env env = ring.recording();
  env["HUGESHIM_PAGES"] = kPoolFreeLadder;  // thp, then base pages
  env["HUGESHIM_POPULATE"] = "eager";
  env["HUGESHIM_PREFAULT_THREADS"] = "1";  // like for like with the one-thread base populate
  env["HUGESHIM_CACHE"] = "0";             // every malloc maps and populates anew
  env["HUGESHIM_MIN_SIZE"] = "4MiB";
  env["HUGESHIM_LOG"] = "info";
  return env;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

bool can_fragment() {
  if (geteuid() != 0) {
    BOOST_TEST_MESSAGE("skipped: fragmenting memory needs root");
    return false;
  }
  if (!thp_enabled()) {
    BOOST_TEST_MESSAGE("skipped: THP is '" << thp_mode() << "' on this host");
    return false;
  }
  return true;
}

}  // namespace

BOOST_AUTO_TEST_CASE(shim_steps_to_base_pages_on_a_fragmented_host) {
  if (!can_fragment()) return;
  RingDir ring;
  RunResult r = run({kFragmenter, "--no-compaction", "--", kProbe, "rounds", std::to_string(kRounds), kRegionMiB,
                     std::to_string(kRegions), HUGESHIM_SHIM_PATH},
                    shim_env(ring));
  BOOST_TEST_MESSAGE("fragmenter and probe stderr:\n" << r.err);
  BOOST_TEST_MESSAGE("rounds:\n" << r.out);
  if (r.status == 1 && r.out.empty() && r.err.find("fragment-memory: {") == std::string::npos) {
    BOOST_TEST_MESSAGE("skipped: the fragmenter could not run here");
    return;
  }
  BOOST_REQUIRE_EQUAL(r.status, 0);
  BOOST_TEST(r.err.find("fragment-memory: {") != std::string::npos);

  std::vector<double> base_s, shim_s;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    double b = 0, s = 0;
    int round = 0;
    if (sscanf(line.c_str(), "round=%d base_s=%lf shim_s=%lf", &round, &b, &s) == 3) {
      base_s.push_back(b);
      shim_s.push_back(s);
    }
  }
  BOOST_REQUIRE_EQUAL(base_s.size(), static_cast<size_t>(kRounds));
  double ratio = median(shim_s) / median(base_s);
  BOOST_TEST_MESSAGE("median populate, " << kRegions << " x " << kRegionMiB << " MiB: base pages " << median(base_s)
                                         << " s, shim " << median(shim_s) << " s, ratio " << ratio);

  RingContents rc = ring.drain();
  const hugeshim_ring_api_counters& m = rc.counters[HUGESHIM_API_MALLOC];
  BOOST_TEST(rc.segments == static_cast<size_t>(kRounds));
  BOOST_TEST(m.events >= static_cast<uint64_t>(kRounds * kRegions));
  // A process whose first THP populate came back mostly base pages steps
  // down for the rest. Not every process does: in `defrag=madvise` mode a
  // THP fault may reclaim page cache and so free a whole block, or take one
  // another program freed before the fragmenter took it (it checks every
  // 20 ms); such a process gets THP, as it should. Measured here: in one run
  // every process stepped down after its first region; in another only the
  // first did.
  BOOST_TEST_MESSAGE("thp_fragmented: " << m.fallbacks[HUGESHIM_FALLBACK_THP_FRAGMENTED] << " of " << m.events
                                        << " mallocs; THP bytes " << (m.page_bytes[HUGESHIM_PAGE_THP] >> 20)
                                        << " MiB, base " << (m.page_bytes[HUGESHIM_PAGE_BASE] >> 20) << " MiB");
  BOOST_TEST(m.fallbacks[HUGESHIM_FALLBACK_THP_FRAGMENTED] >= static_cast<uint64_t>(kRegions - 2));
  BOOST_TEST(std::string(hugeshim_fallback_name(HUGESHIM_FALLBACK_THP_FRAGMENTED)) == "thp_fragmented");
  BOOST_TEST(r.err.find("THP looks fragmented") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(shim_takes_thp_again_once_memory_is_free) {
  if (!can_fragment()) return;
  RingDir ring;
  RunResult r = run({kProbe, "malloc", kRegionMiB, "4"}, [&] {
    Env env = with_shim(shim_env(ring));
    return env;
  }());
  BOOST_REQUIRE_EQUAL(r.status, 0);
  RingContents rc = ring.drain();
  const hugeshim_ring_api_counters& m = rc.counters[HUGESHIM_API_MALLOC];
  BOOST_TEST(m.fallbacks[HUGESHIM_FALLBACK_THP_FRAGMENTED] == 0u);
  BOOST_TEST(m.page_bytes[HUGESHIM_PAGE_THP] > 0u);
}
