// The region table (core/region_table.h): Region slots handed out zeroed
// until the table is full, and the pagemap from each arena granule to the
// region owning it.
#define BOOST_TEST_MODULE region_table
#include <boost/test/unit_test.hpp>

#include <set>
#include <stdexcept>
#include <vector>

#include "core/arena.h"
#include "core/region_table.h"

using namespace hugeshim;

namespace {

constexpr size_t G = kGranule;

struct ArenaReserved {
  ArenaReserved() {
    if (!arena_init()) throw std::runtime_error("arena_init could not reserve the arena");
  }
};

struct Locked {
  Locked() { arena_lock(); }
  ~Locked() { arena_unlock(); }
};

}  // namespace

BOOST_TEST_GLOBAL_FIXTURE(ArenaReserved);

BOOST_AUTO_TEST_CASE(new_hands_out_zeroed_distinct_slots) {
  Locked lock;
  Region* a = region_table_new();
  Region* b = region_table_new();
  BOOST_REQUIRE(a && b);
  BOOST_TEST(a != b);
  BOOST_TEST(a->index != b->index);
  a->base = 0x1234;
  a->mapped = 99;
  a->cached = true;
  a->segment_count = 3;
  region_table_delete(a);
  // Whatever slot comes next, a reused one is cleared.
  Region* c = region_table_new();
  BOOST_REQUIRE(c);
  BOOST_TEST(c->base == 0u);
  BOOST_TEST(c->mapped == 0u);
  BOOST_TEST(!c->cached);
  BOOST_TEST(c->segment_count == 0);
  region_table_delete(b);
  region_table_delete(c);
}

BOOST_AUTO_TEST_CASE(a_full_table_refuses_and_recovers_one_slot_at_a_time) {
  Locked lock;
  std::vector<Region*> all;
  std::set<uint32_t> indices;
  while (Region* r = region_table_new()) {
    all.push_back(r);
    indices.insert(r->index);
    BOOST_REQUIRE(all.size() <= (size_t{1} << 20));  // the table is bounded
  }
  BOOST_TEST(all.size() >= 1024u);
  BOOST_TEST(indices.size() == all.size());
  BOOST_TEST(region_table_new() == nullptr);
  region_table_delete(all.back());
  all.back() = region_table_new();
  BOOST_REQUIRE(all.back() != nullptr);
  BOOST_TEST(region_table_new() == nullptr);
  for (Region* r : all) region_table_delete(r);
  Region* one = region_table_new();
  BOOST_TEST(one != nullptr);
  region_table_delete(one);
}

BOOST_AUTO_TEST_CASE(pagemap_names_the_owner_of_every_granule_it_was_set_for) {
  Locked lock;
  Region* r = region_table_new();
  Region* s = region_table_new();
  BOOST_REQUIRE(r && s);
  const uintptr_t at = g_arena_base + 8 * G;
  // A length that ends inside a granule covers that granule too.
  region_table_set(at, 2 * G + 1, r);
  region_table_set(at + 3 * G, G, s);
  BOOST_TEST(region_table_get(at - 1) == nullptr);
  BOOST_TEST(region_table_get(at) == r);
  BOOST_TEST(region_table_get(at + G + 12345) == r);
  BOOST_TEST(region_table_get(at + 3 * G - 1) == r);
  BOOST_TEST(region_table_get(at + 3 * G) == s);
  BOOST_TEST(region_table_get(at + 4 * G - 1) == s);
  BOOST_TEST(region_table_get(at + 4 * G) == nullptr);
  // Clearing one region's granules leaves its neighbour's.
  region_table_set(at, 3 * G, nullptr);
  BOOST_TEST(region_table_get(at) == nullptr);
  BOOST_TEST(region_table_get(at + 3 * G - 1) == nullptr);
  BOOST_TEST(region_table_get(at + 3 * G) == s);
  region_table_set(at + 3 * G, G, nullptr);
  BOOST_TEST(region_table_get(at + 3 * G) == nullptr);
  region_table_delete(r);
  region_table_delete(s);
}

BOOST_AUTO_TEST_CASE(pagemap_covers_both_ends_of_the_arena) {
  Locked lock;
  Region* r = region_table_new();
  BOOST_REQUIRE(r);
  const uintptr_t last = g_arena_base + g_arena_size - G;
  region_table_set(g_arena_base, G, r);
  region_table_set(last, G, r);
  BOOST_TEST(region_table_get(g_arena_base) == r);
  BOOST_TEST(region_table_get(g_arena_base + g_arena_size - 1) == r);
  BOOST_TEST(region_table_get(last - 1) == nullptr);
  region_table_set(g_arena_base, G, nullptr);
  region_table_set(last, G, nullptr);
  BOOST_TEST(region_table_get(last) == nullptr);
  region_table_delete(r);
}
