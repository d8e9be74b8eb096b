// Where large anonymous mmaps land, seen from outside the process: THP
// (advised, 2 MiB aligned) by default, 2 MiB hugetlb pages when HUGESHIM_PAGES
// names 2M, the kernel's own mapping for everything the shim leaves alone or
// cannot serve.
#define BOOST_TEST_MODULE mmap_placement
#include <boost/test/unit_test.hpp>

#include "mmap_probe_client.h"
#include "thp_mode.h"

using namespace hugeshim_test;

namespace {

bool advised(pid_t pid, uint64_t addr) { return vm_flags(pid, addr).find(" hg ") != std::string::npos; }

// Maps SIZE with the given words after "map a SIZE rw" and touches it.
uint64_t map_and_touch(MmapProbe& probe, const std::string& size, const std::string& extra = "") {
  BOOST_REQUIRE_EQUAL(probe.ask("map a " + size + " rw" + extra), "ok");
  BOOST_REQUIRE_EQUAL(probe.ask("fill a " + size + " 1"), "ok");
  return probe.addr("a");
}

}  // namespace

BOOST_AUTO_TEST_CASE(anonymous_64m_lands_on_thp, *needs_thp_enabled()) {
  MmapProbe probe(with_shim({{"HUGESHIM_PAGES", kShimDefaultLadder}}));
  uint64_t a = map_and_touch(probe, "64M");
  BOOST_CHECK_EQUAL(a % (2 * kMiB), 0u);
  BOOST_CHECK(advised(probe.pid(), a));
  SmapsSummary s = smaps_range(probe.pid(), a, 64 * kMiB);
  BOOST_CHECK_GE(s.anon_huge_kb, 60 * 1024u);
  BOOST_CHECK_EQUAL(s.hugetlb_kb, 0u);
  BOOST_CHECK_EQUAL(probe.ask("munmap a 64M"), "0 0");
  BOOST_CHECK_EQUAL(probe.finish(), 0);
}

BOOST_AUTO_TEST_CASE(without_the_shim_the_same_map_is_not_advised, *needs_thp_only_where_advised()) {
  // The control for the test above: unadvised memory stays on base pages.
  MmapProbe probe({});
  uint64_t a = map_and_touch(probe, "64M");
  BOOST_CHECK(!advised(probe.pid(), a));
  BOOST_CHECK_EQUAL(smaps_range(probe.pid(), a, 64 * kMiB).anon_huge_kb, 0u);
  BOOST_CHECK_EQUAL(probe.finish(), 0);
}

BOOST_AUTO_TEST_CASE(anonymous_1g_lands_on_thp, *needs_thp_enabled()) {
  // MAP_POPULATE: the shim advises first, then populates, so the pages fault
  // in huge (the kernel alone would fault base pages before any advice).
  MmapProbe probe(with_shim({{"HUGESHIM_PAGES", kShimDefaultLadder}}));
  BOOST_REQUIRE_EQUAL(probe.ask("map a 1G rw populate"), "ok");
  uint64_t a = probe.addr("a");
  SmapsSummary s = smaps_range(probe.pid(), a, kGiB);
  BOOST_CHECK_GE(s.anon_huge_kb, 1000 * 1024u);
  BOOST_CHECK_EQUAL(probe.ask("munmap a 1G"), "0 0");
  BOOST_CHECK_EQUAL(probe.finish(), 0);
}

BOOST_AUTO_TEST_CASE(anonymous_64m_lands_on_hugetlb_when_2m_is_asked) {
  HugePool pool(64);
  long free_before = pool.free_pages();
  MmapProbe probe(with_shim({{"HUGESHIM_PAGES", "2M,thp"}}));
  uint64_t a = map_and_touch(probe, "64M");
  SmapsSummary s = smaps_range(probe.pid(), a, 64 * kMiB);
  BOOST_CHECK_EQUAL(s.kb_by_page_size[2048], 64 * 1024u);
  BOOST_CHECK_EQUAL(s.hugetlb_kb, 64 * 1024u);
  BOOST_CHECK_EQUAL(meminfo("HugePages_Free"), free_before - 32);
  BOOST_CHECK_EQUAL(probe.ask("munmap a 64M"), "0 0");
  BOOST_CHECK_EQUAL(meminfo("HugePages_Free"), free_before);
  BOOST_CHECK_EQUAL(probe.finish(), 0);
}

BOOST_AUTO_TEST_CASE(a_length_off_the_2m_grid_gets_base_pages_for_the_rest_only) {
  HugePool pool(64);
  MmapProbe probe(with_shim({{"HUGESHIM_PAGES", "2M,thp"}}));
  uint64_t a = map_and_touch(probe, "64M+12K");
  SmapsSummary s = smaps_range(probe.pid(), a, 64 * kMiB + 12 * 1024);
  BOOST_CHECK_EQUAL(s.hugetlb_kb, 64 * 1024u);
  BOOST_CHECK_EQUAL(s.kb_by_page_size[4], 12u);  // exactly the remainder, no waste
  BOOST_CHECK_EQUAL(probe.ask("sum a 12K"), probe.ask("sum a+64M 12K"));
  BOOST_CHECK_EQUAL(probe.finish(), 0);
}

BOOST_AUTO_TEST_CASE(anonymous_1g_lands_on_hugetlb_from_a_512_page_pool) {
  HugePool pool(512);
  long free_before = pool.free_pages();
  MmapProbe probe(with_shim({{"HUGESHIM_PAGES", "2M"}}));
  BOOST_REQUIRE_EQUAL(probe.ask("map a 1G rw populate"), "ok");
  uint64_t a = probe.addr("a");
  SmapsSummary s = smaps_range(probe.pid(), a, kGiB);
  BOOST_CHECK_EQUAL(s.hugetlb_kb, kGiB / 1024);
  BOOST_CHECK_EQUAL(meminfo("HugePages_Free"), free_before - 512);
  BOOST_CHECK_EQUAL(probe.ask("read a+1G-1"), "0");
  BOOST_CHECK_EQUAL(probe.ask("munmap a 1G"), "0 0");
  BOOST_CHECK_EQUAL(meminfo("HugePages_Free"), free_before);
  BOOST_CHECK_EQUAL(probe.finish(), 0);
}

BOOST_AUTO_TEST_CASE(pass_through_cases_are_untouched) {
  HugePool pool(64);
  long free_before = pool.free_pages();
  MmapProbe probe(with_shim({{"HUGESHIM_PAGES", "2M,thp"}}));
  struct Case {
    const char* map;
    const char* why;
  } cases[] = {
      {"map a 1M rw", "below HUGESHIM_MIN_SIZE"},
      {"map a 64M rw shared", "MAP_SHARED"},
      {"map a 64M rw stack", "MAP_STACK"},
      {"map a 64M rw growsdown", "MAP_GROWSDOWN"},
  };
  for (const Case& c : cases) {
    BOOST_REQUIRE_EQUAL(probe.ask(c.map), "ok");
    uint64_t a = probe.addr("a");
    BOOST_CHECK_MESSAGE(!advised(probe.pid(), a), c.why);
    BOOST_CHECK_MESSAGE(vm_flags(probe.pid(), a).find(" ht ") == std::string::npos, c.why);
  }
  // MAP_FIXED over a redirected mapping: the new part is the kernel's.
  BOOST_REQUIRE_EQUAL(probe.ask("map b 64M rw"), "ok");
  BOOST_REQUIRE_EQUAL(probe.ask("map c 16M rw fixed b+16M"), "ok");
  uint64_t b = probe.addr("b");
  BOOST_CHECK(vm_flags(probe.pid(), b).find(" ht ") != std::string::npos);
  BOOST_CHECK(vm_flags(probe.pid(), b + 16 * kMiB).find(" ht ") == std::string::npos);
  // MAP_NORESERVE asks for no reservation: THP, never the pool.
  BOOST_REQUIRE_EQUAL(probe.ask("map d 64M rw noreserve"), "ok");
  if (thp_enabled())
    BOOST_CHECK(advised(probe.pid(), probe.addr("d")));
  else
    BOOST_TEST_MESSAGE("THP is off on this host: the shim has no THP rung, MAP_NORESERVE advice not checked");
  BOOST_CHECK(vm_flags(probe.pid(), probe.addr("d")).find(" ht ") == std::string::npos);
  BOOST_CHECK_EQUAL(probe.finish(), 0);
  BOOST_CHECK_EQUAL(meminfo("HugePages_Free"), free_before);
}

BOOST_AUTO_TEST_CASE(intercept_without_mmap_and_disable_pass_through) {
  for (Env env : {Env{{"HUGESHIM_INTERCEPT", "malloc,cuda"}}, Env{{"HUGESHIM_DISABLE", "1"}}}) {
    MmapProbe probe(with_shim(env));
    BOOST_REQUIRE_EQUAL(probe.ask("map a 64M rw"), "ok");
    BOOST_CHECK(!advised(probe.pid(), probe.addr("a")));
    BOOST_CHECK_EQUAL(probe.finish(), 0);
  }
}

BOOST_AUTO_TEST_CASE(an_empty_pool_falls_back_to_thp_then_to_the_kernel, *needs_thp_enabled()) {
  HugePool pool(0);
  {
    MmapProbe probe(with_shim({{"HUGESHIM_PAGES", "2M,thp"}, {"HUGESHIM_LOG", "info"}}));
    uint64_t a = map_and_touch(probe, "64M");
    BOOST_CHECK(advised(probe.pid(), a));
    BOOST_CHECK_EQUAL(smaps_range(probe.pid(), a, 64 * kMiB).hugetlb_kb, 0u);
    BOOST_CHECK_EQUAL(probe.finish(), 0);
    BOOST_CHECK_NE(probe.stderr_text().find("fallback pool_empty"), std::string::npos);
  }
  {
    // No THP on the ladder: the kernel's plain mapping.
    MmapProbe probe(with_shim({{"HUGESHIM_PAGES", "2M"}}));
    uint64_t a = map_and_touch(probe, "64M");
    BOOST_CHECK(!advised(probe.pid(), a));
    BOOST_CHECK_EQUAL(probe.ask("sum a 4K"), probe.ask("sum a+4K 4K"));
    BOOST_CHECK_EQUAL(probe.finish(), 0);
  }
  for (const char* pages : {"2M", "2M,thp"}) {
    // The first rung or nothing, as for malloc.
    MmapProbe probe(with_shim({{"HUGESHIM_PAGES", pages}, {"HUGESHIM_ON_FALLBACK", "fail"}}));
    BOOST_CHECK_EQUAL(probe.ask("map a 64M rw"), "err 12");
    BOOST_CHECK_EQUAL(probe.ask("map a 1M rw"), "ok");  // below the threshold: untouched
    BOOST_CHECK_EQUAL(probe.finish(), 0);
  }
  {
    MmapProbe probe(with_shim({{"HUGESHIM_PAGES", "thp"}, {"HUGESHIM_ON_FALLBACK", "fail"}}));
    BOOST_CHECK_EQUAL(probe.ask("map a 64M rw"), "ok");
    BOOST_CHECK(advised(probe.pid(), probe.addr("a")));
    BOOST_CHECK_EQUAL(probe.finish(), 0);
  }
}

BOOST_AUTO_TEST_CASE(calls_the_shim_cannot_serve_get_the_kernels_answer) {
  HugePool pool(0);
  same_as_kernel(
      "map a 100T rw\n"
      "map a 64M rw fixed 4096\n"
      "map b 64M rw fixed 0x7ffffffff000\n"
      "map c 64M rw\n"
      "map d 64M rw fixed c+1\n",
      {{"HUGESHIM_PAGES", "2M,thp"}});
}
