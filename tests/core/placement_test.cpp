// Where a 64 MiB malloc lands, seen from outside the process: 2 MiB hugetlb
// when the pool has room, THP when it is empty, base pages when the ladder
// allows neither; the pool returns to its start after free. The default
// ladder (1G,2M,thp) unless a case names another; the pool lock is held.
#define BOOST_TEST_MODULE placement
#include <boost/test/unit_test.hpp>

#include "probe_client.h"
#include "thp_mode.h"

using namespace hugeshim_test;

namespace {

const uint64_t kSize = 64 * kMiB;

}  // namespace

BOOST_AUTO_TEST_CASE(lands_on_2m_hugetlb_when_the_pool_has_room) {
  HugePool pool(64);
  long free_before = pool.free_pages();
  Probe probe(with_shim({{"HUGESHIM_PAGES", kShimDefaultLadder}, {"HUGESHIM_CACHE", "0"}}));
  Answer a = probe.call("malloc " + std::to_string(kSize));
  BOOST_REQUIRE(a.addr != 0);
  BOOST_CHECK_EQUAL(a.addr % (2 * kMiB), 0u);
  probe.fill(a.addr, kSize, 0x5a);
  SmapsSummary s = smaps_range(probe.pid(), a.addr, kSize);
  BOOST_CHECK_EQUAL(s.kb_by_page_size[2048], kSize / 1024);
  BOOST_CHECK_EQUAL(s.hugetlb_kb, kSize / 1024);
  BOOST_CHECK_EQUAL(meminfo("HugePages_Free"), free_before - 32);
  BOOST_CHECK_EQUAL(probe.check(a.addr, kSize, 0x5a), "ok");
  BOOST_CHECK_EQUAL(probe.free(a.addr), 4242);  // free preserved errno
  BOOST_CHECK_EQUAL(meminfo("HugePages_Free"), free_before);
  BOOST_CHECK_EQUAL(probe.finish(), 0);
  BOOST_CHECK_EQUAL(meminfo("HugePages_Free"), free_before);
}

BOOST_AUTO_TEST_CASE(lands_on_thp_when_the_pool_is_empty, *needs_thp_enabled()) {
  HugePool pool(0);
  Probe probe(with_shim({{"HUGESHIM_PAGES", kShimDefaultLadder}, {"HUGESHIM_LOG", "info"}}));
  Answer a = probe.call("malloc " + std::to_string(kSize));
  BOOST_REQUIRE(a.addr != 0);
  probe.fill(a.addr, kSize, 1);
  SmapsSummary s = smaps_range(probe.pid(), a.addr, kSize);
  BOOST_CHECK_EQUAL(s.hugetlb_kb, 0u);
  // Advised memory: most of the range should be huge after first touch.
  BOOST_CHECK_GE(s.anon_huge_kb, kSize / 1024 / 2);
  BOOST_CHECK_EQUAL(s.kb_by_page_size[2048], 0u);
  probe.free(a.addr);
  BOOST_CHECK_EQUAL(probe.finish(), 0);
  BOOST_CHECK_NE(probe.stderr_text().find("fallback pool_empty"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(lands_on_base_pages_when_the_ladder_allows_neither, *needs_thp_only_where_advised()) {
  HugePool pool(0);
  Probe probe(with_shim({{"HUGESHIM_PAGES", "2M"}, {"HUGESHIM_LOG", "info"}}));
  Answer a = probe.call("malloc " + std::to_string(kSize));
  BOOST_REQUIRE(a.addr != 0);
  probe.fill(a.addr, kSize, 2);
  SmapsSummary s = smaps_range(probe.pid(), a.addr, kSize);
  BOOST_CHECK_EQUAL(s.hugetlb_kb, 0u);
  BOOST_CHECK_EQUAL(s.anon_huge_kb, 0u);
  BOOST_CHECK_GE(s.kb_by_page_size[4], kSize / 1024);
  BOOST_CHECK_EQUAL(probe.check(a.addr, kSize, 2), "ok");
  probe.free(a.addr);
  BOOST_CHECK_EQUAL(probe.finish(), 0);
  BOOST_CHECK_NE(probe.stderr_text().find("fallback pool_empty"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(mixes_page_sizes_when_the_pool_covers_part) {
  HugePool pool(20);  // 40 MiB of a 64 MiB + 4 KiB request
  long free_before = pool.free_pages();
  Probe probe(with_shim({{"HUGESHIM_PAGES", "2M"}, {"HUGESHIM_CACHE", "0"}}));
  Answer a = probe.call("malloc " + std::to_string(kSize + 4096));
  BOOST_REQUIRE(a.addr != 0);
  probe.fill(a.addr, kSize + 4096, 3);
  SmapsSummary s = smaps_range(probe.pid(), a.addr, kSize + 4096);
  BOOST_CHECK_EQUAL(s.hugetlb_kb, 40u * 1024);
  // Waste is at most one base page: the VMAs cover exactly the rounded size.
  BOOST_CHECK_EQUAL(s.kb_by_page_size[2048] + s.kb_by_page_size[4], (kSize + 4096) / 1024);
  BOOST_CHECK_GE(probe.usable(a.addr), kSize + 4096);
  BOOST_CHECK_LT(probe.usable(a.addr), kSize + 2 * 4096);
  probe.free(a.addr);
  BOOST_CHECK_EQUAL(meminfo("HugePages_Free"), free_before);
  BOOST_CHECK_EQUAL(probe.finish(), 0);
}

BOOST_AUTO_TEST_CASE(on_fallback_fail_gives_enomem) {
  HugePool pool(0);
  Probe probe(with_shim({{"HUGESHIM_PAGES", "2M"}, {"HUGESHIM_ON_FALLBACK", "fail"}}));
  Answer a = probe.call("malloc " + std::to_string(kSize));
  BOOST_CHECK_EQUAL(a.addr, 0u);
  BOOST_CHECK_EQUAL(a.code, ENOMEM);
  // Small requests are not affected.
  Answer small = probe.call("malloc 1000");
  BOOST_CHECK_NE(small.addr, 0u);
  BOOST_CHECK_EQUAL(probe.finish(), 0);
}

BOOST_AUTO_TEST_CASE(on_fallback_fail_still_serves_when_huge_pages_are_there) {
  HugePool pool(64);
  Probe probe(with_shim({{"HUGESHIM_PAGES", "2M"}, {"HUGESHIM_ON_FALLBACK", "fail"}}));
  Answer a = probe.call("malloc " + std::to_string(kSize));
  BOOST_REQUIRE_NE(a.addr, 0u);
  probe.fill(a.addr, kSize, 9);
  BOOST_CHECK_EQUAL(smaps_range(probe.pid(), a.addr, kSize).hugetlb_kb, kSize / 1024);
  probe.free(a.addr);
  BOOST_CHECK_EQUAL(probe.finish(), 0);
}

BOOST_AUTO_TEST_CASE(eager_populate_and_mlock) {
  HugePool pool(64);
  long free_before = pool.free_pages();
  Probe probe(with_shim({{"HUGESHIM_PAGES", kShimDefaultLadder}, {"HUGESHIM_POPULATE", "eager"},
                         {"HUGESHIM_PIN", "mlock"}, {"HUGESHIM_PREFAULT_THREADS", "2"}, {"HUGESHIM_CACHE", "0"}}));
  Answer a = probe.call("malloc " + std::to_string(kSize));
  BOOST_REQUIRE_NE(a.addr, 0u);
  // Populated before the program touched a byte: every hugetlb page resident.
  // (mlock leaves no mark on a hugetlb mapping: the kernel does not set
  // VM_LOCKED there, its pages never swap. The THP case below shows the lock.)
  BOOST_CHECK_EQUAL(smaps_range(probe.pid(), a.addr, kSize).hugetlb_kb, kSize / 1024);
  BOOST_CHECK_EQUAL(probe.check(a.addr, kSize, 0), "ok");
  probe.free(a.addr);
  BOOST_CHECK_EQUAL(probe.finish(), 0);
  BOOST_CHECK_EQUAL(meminfo("HugePages_Free"), free_before);
}

BOOST_AUTO_TEST_CASE(eager_populate_and_mlock_off_the_pool) {
  Probe probe(with_shim({{"HUGESHIM_PAGES", kPoolFreeLadder}, {"HUGESHIM_POPULATE", "eager"},
                         {"HUGESHIM_PIN", "mlock"}, {"HUGESHIM_PREFAULT_THREADS", "2"}, {"HUGESHIM_CACHE", "0"}}));
  Answer a = probe.call("malloc " + std::to_string(kSize));
  BOOST_REQUIRE_NE(a.addr, 0u);
  // Resident and locked before the program touched a byte.
  BOOST_CHECK_GE(smaps_range(probe.pid(), a.addr, kSize).rss_kb, kSize / 1024);
  BOOST_CHECK_NE(vm_flags(probe.pid(), a.addr).find(" lo "), std::string::npos);
  BOOST_CHECK_EQUAL(probe.check(a.addr, kSize, 0), "ok");
  probe.free(a.addr);
  BOOST_CHECK_EQUAL(probe.finish(), 0);
}

BOOST_AUTO_TEST_CASE(disable_passes_everything_through) {
  HugePool pool(64);
  Probe probe(with_shim({{"HUGESHIM_PAGES", kShimDefaultLadder}, {"HUGESHIM_DISABLE", "1"}}));
  Answer a = probe.call("malloc " + std::to_string(kSize));
  BOOST_REQUIRE_NE(a.addr, 0u);
  probe.fill(a.addr, kSize, 1);
  // glibc's mmapped chunk: header before the user pointer, not 2 MiB aligned.
  BOOST_CHECK_NE(a.addr % (2 * kMiB), 0u);
  BOOST_CHECK_EQUAL(smaps_process(probe.pid()).hugetlb_kb, 0u);
  probe.free(a.addr);
  BOOST_CHECK_EQUAL(probe.finish(), 0);
}

BOOST_AUTO_TEST_CASE(freed_regions_are_cached_and_reused_without_new_faults) {
  HugePool pool(64);
  long free_before = pool.free_pages();
  Probe probe(with_shim({{"HUGESHIM_PAGES", kShimDefaultLadder}, {"HUGESHIM_CACHE", "128MiB"}}));
  Answer a = probe.call("malloc " + std::to_string(kSize));
  BOOST_REQUIRE_NE(a.addr, 0u);
  probe.fill(a.addr, kSize, 0x11);
  probe.free(a.addr);
  // Kept for reuse: the pages stay with the process.
  BOOST_CHECK_EQUAL(smaps_process(probe.pid()).hugetlb_kb, kSize / 1024);
  Answer b = probe.call("calloc " + std::to_string(kSize - 4096));
  BOOST_CHECK_EQUAL(b.addr, a.addr);
  BOOST_CHECK_EQUAL(probe.check(b.addr, kSize - 4096, 0), "ok");  // calloc zeroes reused memory
  BOOST_CHECK_EQUAL(smaps_process(probe.pid()).hugetlb_kb, kSize / 1024);  // no new pages
  // Too large for the cache: a new region, and the cached one stays.
  Answer c = probe.call("malloc " + std::to_string(4 * kSize));
  BOOST_CHECK_NE(c.addr, a.addr);
  probe.free(b.addr);
  probe.free(c.addr);
  BOOST_CHECK_EQUAL(probe.finish(), 0);
  BOOST_CHECK_EQUAL(meminfo("HugePages_Free"), free_before);  // exit returns everything
}

BOOST_AUTO_TEST_CASE(numa_policy_is_applied_before_first_touch) {
  HugePool pool(64);
  for (const auto& [mode, policy] : std::vector<std::pair<std::string, std::string>>{
           {"0", "prefer:0"}, {"interleave", "interleave:0"}}) {
    BOOST_TEST_CONTEXT("HUGESHIM_NUMA=" << mode) {
      Probe probe(
          with_shim({{"HUGESHIM_PAGES", kShimDefaultLadder}, {"HUGESHIM_NUMA", mode}, {"HUGESHIM_POPULATE", "eager"}}));
      Answer a = probe.call("malloc " + std::to_string(kSize));
      BOOST_REQUIRE_NE(a.addr, 0u);
      std::string maps = read_file("/proc/" + std::to_string(probe.pid()) + "/numa_maps");
      std::string line = maps.substr(maps.find(Probe::hex(a.addr) + " "));
      line = line.substr(0, line.find('\n'));
      BOOST_CHECK_MESSAGE(line.find(policy) != std::string::npos, line);
      BOOST_CHECK_NE(line.find("N0="), std::string::npos);  // pages are on node 0
      probe.free(a.addr);
      BOOST_CHECK_EQUAL(probe.finish(), 0);
    }
  }
}
