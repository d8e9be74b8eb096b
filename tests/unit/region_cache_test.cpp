// The free-region cache (core/region_cache.h): which cached region a request
// may take (same origin, node and lock need; mapped from the need up to a
// quarter plus 2 MiB more; aligned), newest first; and how a put stays within
// HUGESHIM_CACHE (g_options.cache_bytes) and its slot count by evicting the
// oldest entries, which it hands back for the caller to tear down.
//
// The cache only reads and flags Region objects, so these are plain structs
// with made-up addresses: nothing is mapped.
#define BOOST_TEST_MODULE region_cache
#include <boost/test/unit_test.hpp>

#include <deque>

#include "core/arena.h"
#include "core/region_cache.h"
#include "hugeshim/options.h"

using namespace hugeshim;

namespace {

constexpr size_t kMiB = size_t{1} << 20;
constexpr int kMaxEvicted = 512;

// Each case gets an empty cache and leaves one: the destructor evicts
// whatever is left by putting a one-page region under a one-page budget.
struct CacheCase {
  std::deque<Region> regions;
  Region* evicted[kMaxEvicted] = {};
  int evicted_count = 0;

  CacheCase() { arena_lock(); }
  ~CacheCase() {
    g_options.cache_bytes = kBasePage;
    Region& tiny = make(kBasePage);
    bool put = cache_put(&tiny, evicted, kMaxEvicted, &evicted_count);
    RegionRequest request;
    request.size = kBasePage;
    bool taken = cache_take(request, kBasePage) == &tiny;
    arena_unlock();
    BOOST_CHECK(put && taken);
    for (const Region& r : regions) BOOST_CHECK(!r.cached);
  }

  // A region at a distinct 1 GiB-aligned made-up address.
  Region& make(size_t mapped, Origin origin = Origin::malloc, int32_t node = -1, bool locked = false) {
    Region& r = regions.emplace_back();
    r.base = (uintptr_t{1} << 40) + regions.size() * kPage1G;
    r.span = round_up(mapped, kGranule);
    r.size = mapped;
    r.mapped = mapped;
    r.origin = origin;
    r.numa_node = node;
    r.locked = locked;
    return r;
  }

  bool put(Region& r, int max_evicted = kMaxEvicted) {
    return cache_put(&r, evicted, max_evicted, &evicted_count);
  }
};

RegionRequest request(size_t size, Origin origin = Origin::malloc, int32_t node = -1, bool lock = false,
                      size_t align = 0) {
  RegionRequest q;
  q.size = size;
  q.origin = origin;
  q.numa_node = node;
  q.lock = lock;
  q.align = align;
  return q;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(region_cache, CacheCase)

BOOST_AUTO_TEST_CASE(a_put_region_is_taken_back_once) {
  g_options.cache_bytes = 64 * kMiB;
  Region& r = make(8 * kMiB);
  BOOST_TEST(put(r));
  BOOST_TEST(evicted_count == 0);
  BOOST_TEST(r.cached);
  BOOST_TEST(cache_take(request(8 * kMiB), 8 * kMiB) == &r);
  BOOST_TEST(!r.cached);
  BOOST_TEST(cache_take(request(8 * kMiB), 8 * kMiB) == nullptr);
}

BOOST_AUTO_TEST_CASE(take_needs_the_same_origin_node_and_lock) {
  g_options.cache_bytes = 64 * kMiB;
  Region& unlocked = make(8 * kMiB, Origin::malloc, -1, false);
  BOOST_REQUIRE(put(unlocked));
  BOOST_TEST(cache_take(request(8 * kMiB, Origin::cuda), 8 * kMiB) == nullptr);
  BOOST_TEST(cache_take(request(8 * kMiB, Origin::malloc, 0), 8 * kMiB) == nullptr);
  BOOST_TEST(cache_take(request(8 * kMiB, Origin::malloc, -2), 8 * kMiB) == nullptr);
  BOOST_TEST(cache_take(request(8 * kMiB, Origin::malloc, -1, true), 8 * kMiB) == nullptr);
  BOOST_TEST(cache_take(request(8 * kMiB), 8 * kMiB) == &unlocked);

  // Locked memory serves a request that does not ask for locking.
  Region& locked = make(8 * kMiB, Origin::cuda, 1, true);
  BOOST_REQUIRE(put(locked));
  BOOST_TEST(cache_take(request(8 * kMiB, Origin::cuda, 1), 8 * kMiB) == &locked);
}

BOOST_AUTO_TEST_CASE(take_accepts_mapped_from_the_need_to_a_quarter_plus_2mib_above) {
  g_options.cache_bytes = 256 * kMiB;
  const size_t need = 8 * kMiB;
  const size_t limit = need + need / 4 + 2 * kMiB;
  Region& small = make(need - kBasePage);
  Region& large = make(limit + kBasePage);
  BOOST_REQUIRE(put(small));
  BOOST_REQUIRE(put(large));
  BOOST_TEST(cache_take(request(need), need) == nullptr);
  Region& at_limit = make(limit);
  BOOST_REQUIRE(put(at_limit));
  BOOST_TEST(cache_take(request(need), need) == &at_limit);
  Region& exact = make(need);
  BOOST_REQUIRE(put(exact));
  BOOST_TEST(cache_take(request(need), need) == &exact);
  // The ones outside the window still serve requests they fit.
  BOOST_TEST(cache_take(request(need - kBasePage), need - kBasePage) == &small);
  BOOST_TEST(cache_take(request(limit + kBasePage), limit + kBasePage) == &large);
}

BOOST_AUTO_TEST_CASE(take_honours_the_requested_alignment) {
  g_options.cache_bytes = 64 * kMiB;
  Region& r = make(8 * kMiB);
  r.base += 2 * kMiB;  // 2 MiB aligned, not 4 MiB
  BOOST_REQUIRE(put(r));
  BOOST_TEST(cache_take(request(8 * kMiB, Origin::malloc, -1, false, 4 * kMiB), 8 * kMiB) == nullptr);
  BOOST_TEST(cache_take(request(8 * kMiB, Origin::malloc, -1, false, kPage1G), 8 * kMiB) == nullptr);
  BOOST_TEST(cache_take(request(8 * kMiB, Origin::malloc, -1, false, 2 * kMiB), 8 * kMiB) == &r);
}

BOOST_AUTO_TEST_CASE(take_prefers_the_newest_match) {
  g_options.cache_bytes = 64 * kMiB;
  Region& older = make(8 * kMiB);
  Region& newer = make(8 * kMiB);
  BOOST_REQUIRE(put(older));
  BOOST_REQUIRE(put(newer));
  BOOST_TEST(cache_take(request(8 * kMiB), 8 * kMiB) == &newer);
  BOOST_TEST(cache_take(request(8 * kMiB), 8 * kMiB) == &older);
}

BOOST_AUTO_TEST_CASE(put_refuses_a_region_larger_than_the_budget) {
  g_options.cache_bytes = 8 * kMiB;
  Region& kept = make(4 * kMiB);
  Region& huge = make(8 * kMiB + kBasePage);
  BOOST_REQUIRE(put(kept));
  BOOST_TEST(!put(huge));
  BOOST_TEST(evicted_count == 0);
  BOOST_TEST(!huge.cached);
  BOOST_TEST(kept.cached);

  g_options.cache_bytes = 0;
  Region& any = make(kBasePage);
  BOOST_TEST(!put(any));
  BOOST_TEST(!any.cached);
  g_options.cache_bytes = 8 * kMiB;
  BOOST_TEST(cache_take(request(4 * kMiB), 4 * kMiB) == &kept);
}

BOOST_AUTO_TEST_CASE(put_evicts_the_oldest_until_the_new_region_fits) {
  g_options.cache_bytes = 16 * kMiB;
  Region& a = make(6 * kMiB);
  Region& b = make(6 * kMiB);
  Region& c = make(6 * kMiB);
  BOOST_REQUIRE(put(a));
  BOOST_REQUIRE(put(b));
  BOOST_TEST(put(c));
  BOOST_REQUIRE(evicted_count == 1);
  BOOST_TEST(evicted[0] == &a);
  BOOST_TEST(!a.cached);
  BOOST_TEST((b.cached && c.cached));

  Region& d = make(12 * kMiB);
  BOOST_TEST(put(d));
  BOOST_REQUIRE(evicted_count == 2);
  BOOST_TEST(evicted[0] == &b);
  BOOST_TEST(evicted[1] == &c);
  BOOST_TEST(d.cached);
  BOOST_TEST(cache_take(request(6 * kMiB), 6 * kMiB) == nullptr);
}

BOOST_AUTO_TEST_CASE(put_hands_back_what_it_evicted_even_when_it_gives_up) {
  g_options.cache_bytes = 16 * kMiB;
  Region* quarter[4];
  for (Region*& q : quarter) {
    q = &make(4 * kMiB);
    BOOST_REQUIRE(put(*q));
  }
  // Room for 8 MiB needs two evictions; only one is allowed.
  Region& half = make(8 * kMiB);
  BOOST_TEST(!put(half, 1));
  BOOST_REQUIRE(evicted_count == 1);
  BOOST_TEST(evicted[0] == quarter[0]);
  BOOST_TEST(!quarter[0]->cached);
  BOOST_TEST(!half.cached);
  // Now one eviction is enough.
  BOOST_TEST(put(half, 1));
  BOOST_REQUIRE(evicted_count == 1);
  BOOST_TEST(evicted[0] == quarter[1]);
}

BOOST_AUTO_TEST_CASE(put_evicts_the_oldest_when_the_slots_run_out) {
  g_options.cache_bytes = size_t{1} << 40;  // the budget never binds here
  std::vector<Region*> put_in;
  int capacity = 0;
  for (;; ++capacity) {
    Region& r = make(kBasePage);
    BOOST_REQUIRE(put(r));
    put_in.push_back(&r);
    if (evicted_count) break;
    BOOST_REQUIRE(capacity < 100000);
  }
  BOOST_TEST(capacity >= 16);
  BOOST_TEST(evicted_count == 1);
  BOOST_TEST(evicted[0] == put_in[0]);
  // Full by count and no eviction allowed: refused.
  Region& late = make(kBasePage);
  BOOST_TEST(!put(late, 0));
  BOOST_TEST(!late.cached);
  BOOST_TEST(put_in[1]->cached);
}

BOOST_AUTO_TEST_SUITE_END()
