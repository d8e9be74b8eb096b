// The THP health detector's decisions (core/thp_health.h), fed recorded
// inputs: populates measured on this VM with tools/fragment/fragment-memory
// (--no-compaction: THP 256 MiB in 0.29-0.43 s with 4-24 MiB huge; base pages
// 256 MiB in 0.19-0.20 s; THP on an unfragmented host 256 MiB in 0.07-0.13 s,
// all huge) and /proc/vmstat deltas. No clock and no I/O: the class is the
// decision logic alone.
#define BOOST_TEST_MODULE thp_health
#include <boost/test/unit_test.hpp>

#include "core/thp_health.h"

using namespace hugeshim;

namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kS = 1'000'000'000;

// Recorded on this VM (see the file comment).
constexpr ThpPopulate kFragmentedThp{256 * kMiB, 429 * kMs, 4 * kMiB};
constexpr ThpPopulate kHealthyThp{256 * kMiB, 90 * kMs, 256 * kMiB};
// Direct compaction that succeeded (all huge) but cost more than base pages.
constexpr ThpPopulate kCompactingThp{256 * kMiB, 260 * kMs, 256 * kMiB};
constexpr uint64_t kBaseBytes = 256 * kMiB, kBaseNs = 199 * kMs;

}  // namespace

BOOST_AUTO_TEST_CASE(allows_thp_until_evidence_says_otherwise) {
  ThpHealth h;
  BOOST_TEST(h.allows(0));
  BOOST_TEST(!h.judge_populate(kHealthyThp, 1 * kS));
  BOOST_TEST(h.allows(2 * kS));
}

BOOST_AUTO_TEST_CASE(mostly_base_pages_from_a_thp_populate_steps_down) {
  ThpHealth h;
  uint64_t t = 5 * kS;
  BOOST_TEST(h.judge_populate(kFragmentedThp, t));
  BOOST_TEST(!h.allows(t + 1));
  BOOST_TEST(!h.allows(t + ThpHealth::kRetryNs - 1));
  BOOST_TEST(h.allows(t + ThpHealth::kRetryNs));  // time budget spent: probe
}

BOOST_AUTO_TEST_CASE(a_byte_budget_also_ends_the_step_down) {
  ThpHealth h;
  BOOST_TEST(h.judge_populate(kFragmentedThp, 0));
  for (uint64_t i = 0; i < ThpHealth::kRetryBytes / (256 * kMiB) - 1; ++i) h.stepped_down(256 * kMiB);
  BOOST_TEST(!h.allows(1));
  h.stepped_down(256 * kMiB);
  BOOST_TEST(h.allows(1));
}

BOOST_AUTO_TEST_CASE(small_populates_are_not_judged) {
  ThpHealth h;
  BOOST_TEST(!h.judge_populate(ThpPopulate{16 * kMiB, 100 * kMs, 0}, 0));
  BOOST_TEST(h.allows(1));
  h.base_populated(16 * kMiB, 1);  // too small to be the reference either
  BOOST_TEST(h.base_ns_per_gib() == 0u);
}

BOOST_AUTO_TEST_CASE(all_huge_but_slower_than_base_pages_steps_down_once_base_is_known) {
  ThpHealth h;
  // Without a base-page reference the share alone decides: all huge passes.
  BOOST_TEST(!h.judge_populate(kCompactingThp, 0));
  h.base_populated(kBaseBytes, kBaseNs);
  BOOST_TEST(h.base_ns_per_gib() == kBaseNs * 4);
  BOOST_TEST(h.judge_populate(kCompactingThp, 1 * kS));
  // A healthy THP populate beats the reference and is not penalised.
  ThpHealth fresh;
  fresh.base_populated(kBaseBytes, kBaseNs);
  BOOST_TEST(!fresh.judge_populate(kHealthyThp, 0));
}

BOOST_AUTO_TEST_CASE(base_reference_is_smoothed) {
  ThpHealth h;
  h.base_populated(kBaseBytes, kBaseNs);          // 796 ms/GiB
  h.base_populated(kBaseBytes, kBaseNs * 5);      // one slow outlier
  BOOST_TEST(h.base_ns_per_gib() == (3 * 4 * kBaseNs + 4 * 5 * kBaseNs) / 4);
}

BOOST_AUTO_TEST_CASE(failed_probes_double_the_wait_and_a_healthy_one_resets_it) {
  ThpHealth h;
  uint64_t t = 0;
  BOOST_TEST(h.judge_populate(kFragmentedThp, t));
  BOOST_TEST(h.backoff_shift() == 0u);
  t += ThpHealth::kRetryNs;  // probe
  BOOST_TEST(h.allows(t));
  BOOST_TEST(h.judge_populate(kFragmentedThp, t));
  BOOST_TEST(h.backoff_shift() == 1u);
  BOOST_TEST(!h.allows(t + ThpHealth::kRetryNs));
  BOOST_TEST(h.allows(t + 2 * ThpHealth::kRetryNs));
  for (int i = 0; i < 10; ++i) {
    t += ThpHealth::kRetryNs << h.backoff_shift();
    BOOST_TEST(h.judge_populate(kFragmentedThp, t));
  }
  BOOST_TEST(h.backoff_shift() == ThpHealth::kMaxBackoffShift);  // capped at 16x
  t += ThpHealth::kRetryNs << h.backoff_shift();
  BOOST_TEST(!h.judge_populate(kHealthyThp, t));
  BOOST_TEST(h.backoff_shift() == 0u);
  BOOST_TEST(h.allows(t + 1));
  BOOST_TEST(h.judge_populate(kFragmentedThp, t + 2));  // a first verdict again: 1x
  BOOST_TEST(h.backoff_shift() == 0u);
}

BOOST_AUTO_TEST_CASE(a_late_verdict_while_down_does_not_extend_the_wait) {
  ThpHealth h;
  BOOST_TEST(h.judge_populate(kFragmentedThp, 0));
  // A populate that started before the first verdict reports later.
  h.judge_populate(kFragmentedThp, 3 * kS);
  BOOST_TEST(h.backoff_shift() == 0u);
  BOOST_TEST(h.allows(ThpHealth::kRetryNs));
}

BOOST_AUTO_TEST_CASE(vmstat_steps_down_only_when_failures_dominate) {
  ThpHealth h;
  // Recorded: a fragmented, no-compaction run (602 fallbacks, 24 huge).
  BOOST_TEST(h.judge_vmstat(ThpVmstat{24, 602, 23, 0}, 0));
  BOOST_TEST(!h.allows(1));

  ThpHealth busy;
  // Recorded: fragmented but compaction succeeding (THP all huge):
  // many stalls, few failures. Compaction is working: stay.
  BOOST_TEST(!busy.judge_vmstat(ThpVmstat{640, 0, 400, 0}, 0));
  // A few fallbacks among many faults: stay.
  BOOST_TEST(!busy.judge_vmstat(ThpVmstat{1000, 40, 10, 2}, 0));
  // Too few events to say anything.
  BOOST_TEST(!busy.judge_vmstat(ThpVmstat{0, 31, 0, 0}, 0));
  BOOST_TEST(busy.allows(1));
  // Direct compaction mostly failing.
  BOOST_TEST(busy.judge_vmstat(ThpVmstat{100, 10, 60, 40}, 0));
}
