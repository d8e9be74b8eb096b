// The region life cycle (core/region.h) on the THP and base-page rungs of the
// ladder, in this process: allocate (ladder or cache), find, resize in place,
// release. The hugetlb rungs are never named, so the pool is never touched.
// Page kinds are checked where the kernel shows them, in this process's own
// /proc/self/smaps (VmFlags "hg": advised MADV_HUGEPAGE).
//
// Every case leaves the arena whole and the cache empty. Skipped where other
// mappings occupy the arena's window (arena_window.h).
#define BOOST_TEST_MODULE region
#include <boost/test/unit_test.hpp>

#include <sys/mman.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "arena_window.h"
#include "core/arena.h"
#include "core/region.h"
#include "hugeshim/options.h"
#include "os/backing.h"

using namespace hugeshim;
namespace utf = boost::unit_test;

namespace {

constexpr size_t kMiB = size_t{1} << 20;

struct ShimCore {
  ShimCore() {
    g_options = Options{};
    g_options.prefault_threads = 2;
    g_options.log = LogLevel::off;
    backing_init();
    if (!arena_init()) throw std::runtime_error("arena_init could not reserve the arena");
  }
};

// Options each case starts from: THP then base pages, no cache, allow.
struct Case {
  Case() {
    g_options.ladder[0] = Rung::thp;
    g_options.ladder_len = 1;
    g_options.cache_bytes = 0;
    g_options.on_fallback = OnFallback::allow;
  }
};

// The window's prefix, where every case places its regions, is free again.
bool whole() { return test::arena_prefix_free(); }

struct thp_usable {
  boost::test_tools::assertion_result operator()(utf::test_unit_id) {
    const bool usable = backing_thp_usable();
    boost::test_tools::assertion_result r{usable};
    r.message() << "transparent huge pages are not available for madvised memory here";
    return r;
  }
};

RegionRequest request(size_t size, size_t align = 0) {
  RegionRequest q;
  q.size = size;
  q.align = align;
  return q;
}

Region* allocate(const RegionRequest& q, Event* ev) {
  *ev = event_start(HUGESHIM_API_MALLOC, q.size, nullptr);
  return region_allocate(q, ev);
}

void release(Region* r) {
  Event ev = event_start(HUGESHIM_API_FREE, r->size, nullptr);
  region_release(r, &ev);
}

unsigned char* bytes(const Region* r) { return reinterpret_cast<unsigned char*>(r->base); }

void fill(const Region* r, size_t len, unsigned seed) {
  for (size_t i = 0; i < len; i += 512) bytes(r)[i] = static_cast<unsigned char>(seed + i / 512);
}
bool filled(const Region* r, size_t len, unsigned seed) {
  for (size_t i = 0; i < len; i += 512)
    if (bytes(r)[i] != static_cast<unsigned char>(seed + i / 512)) return false;
  return true;
}
bool zero(const Region* r, size_t from, size_t to) {
  for (size_t i = from; i < to; ++i)
    if (bytes(r)[i]) return false;
  return true;
}

// The region.h invariants that hold on these rungs.
void check_invariants(const Region* r) {
  BOOST_TEST(r->base % kGranule == 0u);
  BOOST_TEST(r->mapped >= r->size);
  BOOST_TEST(r->mapped - r->size < kBasePage);
  BOOST_TEST(r->span == round_up(r->mapped, kGranule));
  uint64_t at = 0, per_class[HUGESHIM_PAGE_COUNT] = {};
  for (uint8_t s = 0; s < r->segment_count; ++s) {
    BOOST_TEST(r->segments[s].offset == at);
    BOOST_TEST(r->segments[s].len > 0u);
    at += r->segments[s].len;
    per_class[r->segments[s].page_class] += r->segments[s].len;
  }
  BOOST_TEST(at == r->mapped);
  for (uint32_t c = 0; c < HUGESHIM_PAGE_COUNT; ++c) BOOST_TEST(per_class[c] == r->page_bytes[c]);
}

// The header line and VmFlags of the smaps entry containing addr.
struct Vma {
  std::string header, flags;
};
Vma vma_of(uintptr_t addr) {
  std::ifstream smaps("/proc/self/smaps");
  Vma v;
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    uintptr_t lo = 0, hi = 0;
    // Only an entry's first line starts with "lo-hi" ("Rss:" and the like do not).
    if (sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR, &lo, &hi) == 2) {
      inside = lo <= addr && addr < hi;
      if (inside) v.header = line;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      v.flags = line;
    }
  }
  return v;
}
bool mapped(uintptr_t addr) { return !vma_of(addr).header.empty(); }
bool accessible(uintptr_t addr) { return mapped(addr) && vma_of(addr).header.find(" ---p ") == std::string::npos; }
bool thp_advised(uintptr_t addr) { return vma_of(addr).flags.find(" hg") != std::string::npos; }

bool resident(const Region* r, size_t len) {
  std::vector<unsigned char> pages(len / kBasePage);
  if (mincore(as_ptr(r->base), len, pages.data()) != 0) return false;
  for (unsigned char p : pages)
    if (!(p & 1)) return false;
  return true;
}

// Empties the cache: under a one-page budget each release evicts older
// entries, and the page-sized region left is finally released uncached.
void drain_cache() {
  g_options.cache_bytes = kBasePage;
  Event ev;
  for (int i = 0; i < 64; ++i) release(allocate(request(kBasePage), &ev));
  Region* last = allocate(request(kBasePage), &ev);
  g_options.cache_bytes = 0;
  release(last);
}

}  // namespace

BOOST_TEST_GLOBAL_FIXTURE(ShimCore);
BOOST_FIXTURE_TEST_SUITE(region, Case, *utf::precondition(test::arena_window_unmapped()))

BOOST_AUTO_TEST_CASE(thp_ladder_puts_the_body_on_thp_and_the_tail_on_base_pages, *utf::precondition(thp_usable())) {
  const size_t size = 5 * kMiB + 100;
  Event ev;
  Region* r = allocate(request(size), &ev);
  BOOST_REQUIRE(r);
  BOOST_TEST(r->size == size);
  BOOST_TEST(r->mapped == 5 * kMiB + kBasePage);
  BOOST_TEST(r->span == 6 * kMiB);
  BOOST_TEST(r->page_bytes[HUGESHIM_PAGE_THP] == 4 * kMiB);
  BOOST_TEST(r->page_bytes[HUGESHIM_PAGE_BASE] == kMiB + kBasePage);
  check_invariants(r);
  BOOST_TEST(ev.fallback == uint32_t{HUGESHIM_FALLBACK_NONE});
  BOOST_TEST(ev.address == r->base);
  BOOST_TEST(ev.mapped == r->mapped);
  BOOST_TEST(ev.page_bytes[HUGESHIM_PAGE_THP] == 4 * kMiB);
  BOOST_TEST(!(ev.flags & HUGESHIM_EVENT_FROM_CACHE));
  // The whole span is this region's; the address after it is not.
  BOOST_TEST(region_find(as_ptr(r->base)) == r);
  BOOST_TEST(region_find(as_ptr(r->base + r->span - 1)) == r);
  BOOST_TEST(region_find(as_ptr(r->base + r->span)) == nullptr);
  // Fresh memory reads zero and takes writes; past `mapped` is reserved only.
  BOOST_TEST(zero(r, 0, r->mapped));
  fill(r, size, 7);
  BOOST_TEST(filled(r, size, 7));
  BOOST_TEST(thp_advised(r->base));
  BOOST_TEST(!accessible(r->base + r->mapped));
  release(r);
  BOOST_TEST(whole());
}

BOOST_AUTO_TEST_CASE(an_empty_ladder_gives_base_pages_and_says_why) {
  g_options.ladder_len = 0;
  Event ev;
  Region* r = allocate(request(4 * kMiB), &ev);
  BOOST_REQUIRE(r);
  BOOST_TEST(r->page_bytes[HUGESHIM_PAGE_BASE] == 4 * kMiB);
  BOOST_TEST(ev.fallback == uint32_t{HUGESHIM_FALLBACK_NOT_IN_LADDER});
  check_invariants(r);
  fill(r, r->size, 1);
  BOOST_TEST(accessible(r->base));
  BOOST_TEST(!thp_advised(r->base));
  release(r);
  BOOST_TEST(whole());
}

BOOST_AUTO_TEST_CASE(a_request_below_2mib_is_below_every_page_of_the_ladder) {
  Event ev;
  Region* r = allocate(request(kMiB + 1), &ev);
  BOOST_REQUIRE(r);
  BOOST_TEST(ev.fallback == uint32_t{HUGESHIM_FALLBACK_SIZE_BELOW_PAGE});
  BOOST_TEST(r->mapped == kMiB + kBasePage);
  BOOST_TEST(r->page_bytes[HUGESHIM_PAGE_BASE] == r->mapped);
  check_invariants(r);
  release(r);
  BOOST_TEST(whole());
}

BOOST_AUTO_TEST_CASE(alignment_up_to_1gib_is_honoured_and_beyond_refused) {
  for (size_t align : {size_t{4} * kMiB, size_t{64} * kMiB, kPage1G}) {
    BOOST_TEST_CONTEXT("align " << align) {
      Event ev;
      Region* r = allocate(request(3 * kMiB, align), &ev);
      BOOST_REQUIRE(r);
      BOOST_TEST(r->base % align == 0u);
      check_invariants(r);
      release(r);
    }
  }
  Event ev;
  errno = 0;
  BOOST_TEST(allocate(request(3 * kMiB, 2 * kPage1G), &ev) == nullptr);
  BOOST_TEST(errno == EINVAL);
  BOOST_TEST(ev.fallback == uint32_t{HUGESHIM_FALLBACK_ALIGNMENT});
  BOOST_TEST(whole());
}

BOOST_AUTO_TEST_CASE(sizes_that_cannot_be_had_fail_with_enomem) {
  Event ev;
  errno = 0;
  BOOST_TEST(allocate(request(SIZE_MAX - 100), &ev) == nullptr);  // rounding overflows
  BOOST_TEST(errno == ENOMEM);
  errno = 0;
  BOOST_TEST(allocate(request(g_arena_size + 1), &ev) == nullptr);
  BOOST_TEST(errno == ENOMEM);
  BOOST_TEST(ev.fallback == uint32_t{HUGESHIM_FALLBACK_ARENA_FULL});
  BOOST_TEST(whole());
}

BOOST_AUTO_TEST_CASE(on_fallback_fail_refuses_and_leaves_nothing_behind) {
  g_options.on_fallback = OnFallback::fail;
  Event ev;
  errno = 0;
  BOOST_TEST(allocate(request(kMiB), &ev) == nullptr);
  BOOST_TEST(errno == ENOMEM);
  BOOST_TEST(ev.fallback == uint32_t{HUGESHIM_FALLBACK_SIZE_BELOW_PAGE});
  BOOST_TEST(whole());
  g_options.ladder_len = 0;
  BOOST_TEST(allocate(request(8 * kMiB), &ev) == nullptr);
  BOOST_TEST(ev.fallback == uint32_t{HUGESHIM_FALLBACK_NOT_IN_LADDER});
  BOOST_TEST(whole());
}

BOOST_AUTO_TEST_CASE(release_returns_the_pages_and_the_address_space) {
  Event ev;
  Region* r = allocate(request(6 * kMiB), &ev);
  BOOST_REQUIRE(r);
  const uintptr_t base = r->base;
  fill(r, r->size, 3);
  Event freed = event_start(HUGESHIM_API_FREE, r->size, nullptr);
  region_release(r, &freed);
  BOOST_TEST(freed.mapped == 6 * kMiB);
  BOOST_TEST(freed.address == base);
  BOOST_TEST(!(freed.flags & HUGESHIM_EVENT_FROM_CACHE));
  BOOST_TEST(region_find(as_ptr(base)) == nullptr);
  BOOST_TEST(!mapped(base));  // the address space is the program's again
  BOOST_TEST(whole());
}

BOOST_AUTO_TEST_CASE(a_released_region_comes_back_from_the_cache) {
  g_options.cache_bytes = 64 * kMiB;
  Event ev;
  Region* r = allocate(request(6 * kMiB), &ev);
  BOOST_REQUIRE(r);
  const uintptr_t base = r->base;
  fill(r, r->size, 9);
  Event freed = event_start(HUGESHIM_API_FREE, r->size, nullptr);
  region_release(r, &freed);
  BOOST_TEST((freed.flags & HUGESHIM_EVENT_FROM_CACHE) != 0u);
  BOOST_TEST(region_find(as_ptr(base)) == nullptr);  // cached: nobody's
  BOOST_TEST(accessible(base));                      // but still mapped

  // A slightly smaller request of the same kind gets it back, unchanged.
  Region* again = allocate(request(6 * kMiB - 3 * kBasePage), &ev);
  BOOST_TEST(again == r);
  BOOST_TEST((ev.flags & HUGESHIM_EVENT_FROM_CACHE) != 0u);
  BOOST_TEST(ev.address == base);
  BOOST_TEST(again->size == 6 * kMiB - 3 * kBasePage);
  BOOST_TEST(region_find(as_ptr(base)) == again);
  BOOST_TEST(filled(again, again->size, 9));
  release(again);

  // Asked to be zeroed, it is.
  RegionRequest zeroed = request(6 * kMiB);
  zeroed.zero = true;
  again = allocate(zeroed, &ev);
  BOOST_TEST(again == r);
  BOOST_TEST(zero(again, 0, again->size));
  release(again);

  // Another origin does not take it.
  RegionRequest cuda = request(6 * kMiB);
  cuda.origin = Origin::cuda;
  Region* other = allocate(cuda, &ev);
  BOOST_REQUIRE(other);
  BOOST_TEST(other->base != base);
  BOOST_TEST(!(ev.flags & HUGESHIM_EVENT_FROM_CACHE));
  release(other);
  drain_cache();
  BOOST_TEST(whole());
}

BOOST_AUTO_TEST_CASE(populate_faults_every_page_in_at_allocation) {
  RegionRequest q = request(8 * kMiB + kBasePage);
  q.populate = true;
  Event ev;
  Region* r = allocate(q, &ev);
  BOOST_REQUIRE(r);
  BOOST_TEST(r->populated);
  BOOST_TEST(resident(r, r->mapped));
  BOOST_TEST(ev.phase_ns[HUGESHIM_PHASE_POPULATE] > 0u);
  check_invariants(r);
  release(r);
  BOOST_TEST(whole());
}

BOOST_AUTO_TEST_CASE(shrink_in_place_keeps_the_head_and_frees_the_tail) {
  Event ev;
  Region* r = allocate(request(16 * kMiB), &ev);
  BOOST_REQUIRE(r);
  const uintptr_t base = r->base;
  fill(r, r->size, 5);
  Event resized = event_start(HUGESHIM_API_REALLOC, 5 * kMiB + 1, nullptr);
  BOOST_TEST(region_resize_in_place(r, 5 * kMiB + 1, &resized));
  BOOST_TEST(r->base == base);
  BOOST_TEST(r->size == 5 * kMiB + 1);
  BOOST_TEST(r->mapped == 5 * kMiB + kBasePage);
  BOOST_TEST(r->span == 6 * kMiB);
  BOOST_TEST((resized.flags & HUGESHIM_EVENT_IN_PLACE) != 0u);
  BOOST_TEST(resized.mapped == r->mapped);
  check_invariants(r);
  BOOST_TEST(filled(r, r->size, 5));
  // The tail is unmapped, nobody's, and free in the arena again; the rest of
  // the span is still reserved.
  BOOST_TEST(!accessible(base + r->mapped));
  BOOST_TEST(mapped(base + r->mapped));
  BOOST_TEST(!mapped(base + 6 * kMiB));
  BOOST_TEST(region_find(as_ptr(base + 6 * kMiB)) == nullptr);
  arena_lock();
  bool tail_free = arena_take_at(base + 6 * kMiB, 10 * kMiB);
  if (tail_free) arena_give(base + 6 * kMiB, 10 * kMiB);
  arena_unlock();
  BOOST_TEST(tail_free);
  release(r);
  BOOST_TEST(whole());
}

BOOST_AUTO_TEST_CASE(grow_in_place_maps_more_of_the_ladder_after_the_end, *utf::precondition(thp_usable())) {
  Event ev;
  Region* r = allocate(request(5 * kMiB + 1), &ev);
  BOOST_REQUIRE(r);
  const uintptr_t base = r->base;
  fill(r, r->size, 11);
  Event resized = event_start(HUGESHIM_API_REALLOC, 20 * kMiB, nullptr);
  BOOST_TEST(region_resize_in_place(r, 20 * kMiB, &resized));
  BOOST_TEST(r->base == base);
  BOOST_TEST(r->mapped == 20 * kMiB);
  BOOST_TEST(r->span == 20 * kMiB);
  check_invariants(r);
  // Up to the old end's 2 MiB boundary in the old tail's kind (base pages),
  // then the ladder again: 4 + 14 MiB on THP, 2 MiB on base pages.
  BOOST_TEST(r->page_bytes[HUGESHIM_PAGE_THP] == 18 * kMiB);
  BOOST_TEST(r->page_bytes[HUGESHIM_PAGE_BASE] == 2 * kMiB);
  BOOST_TEST(filled(r, 5 * kMiB + 1, 11));
  BOOST_TEST(zero(r, 5 * kMiB + 1, 20 * kMiB));
  BOOST_TEST(thp_advised(base + 6 * kMiB));
  BOOST_TEST(region_find(as_ptr(base + 20 * kMiB - 1)) == r);
  release(r);
  BOOST_TEST(whole());
}

BOOST_AUTO_TEST_CASE(grow_in_place_fails_unchanged_when_the_next_granule_is_taken) {
  Event ev;
  Region* a = allocate(request(4 * kMiB), &ev);
  Region* b = allocate(request(4 * kMiB), &ev);
  BOOST_REQUIRE(a && b);
  BOOST_REQUIRE(b->base == a->base + 4 * kMiB);  // first fit in a whole arena
  fill(a, a->size, 13);
  const Region before = *a;
  Event resized = event_start(HUGESHIM_API_REALLOC, 8 * kMiB, nullptr);
  BOOST_TEST(!region_resize_in_place(a, 8 * kMiB, &resized));
  BOOST_TEST(a->mapped == before.mapped);
  BOOST_TEST(a->span == before.span);
  BOOST_TEST(a->size == before.size);
  BOOST_TEST(a->segment_count == before.segment_count);
  BOOST_TEST(std::memcmp(a->page_bytes, before.page_bytes, sizeof before.page_bytes) == 0);
  BOOST_TEST(region_find(as_ptr(a->base + 4 * kMiB)) == b);
  BOOST_TEST(filled(a, a->size, 13));
  // Shrunk to one granule, it can grow back into the granule it gave up.
  BOOST_TEST(region_resize_in_place(a, kMiB, &resized));
  BOOST_TEST(a->span == 2 * kMiB);
  BOOST_TEST(region_resize_in_place(a, 4 * kMiB, &resized));
  BOOST_TEST(a->span == 4 * kMiB);
  check_invariants(a);
  BOOST_TEST(filled(a, kMiB, 13));
  release(a);
  release(b);
  BOOST_TEST(whole());
}

BOOST_AUTO_TEST_SUITE_END()
