// The mapped-range table (mmap/table.h): insertion with the huge interval
// clipped to 2 MiB boundaries inside the range, overlap queries (exact under
// the lock, bounding box without it), subtraction that trims, splits or
// drops entries, and the fixed capacity. Pure bookkeeping: the addresses are
// made up and nothing is mapped.
#define BOOST_TEST_MODULE mmap_table
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <vector>

#include "mmap/table.h"
#include "os/os.h"

using namespace hugeshim;

namespace {

constexpr uintptr_t kMiB = uintptr_t{1} << 20;
constexpr uintptr_t kAt = uintptr_t{1} << 40;  // 2 MiB aligned

// Each case starts and must end with an empty table.
struct TableCase {
  TableCase() { mmap_table_lock(); }
  ~TableCase() {
    mmap_table_subtract(0, ~uintptr_t{0});
    BOOST_CHECK_EQUAL(mmap_table_count(), 0u);
    mmap_table_unlock();
  }
};

MappedRange range(uintptr_t lo, uintptr_t hi, MapKind kind = MapKind::hugetlb, uintptr_t huge_lo = 0,
                  uintptr_t huge_hi = 0) {
  MappedRange r;
  r.lo = lo;
  r.hi = hi;
  r.huge_lo = huge_lo;
  r.huge_hi = huge_hi;
  r.kind = kind;
  r.prot = PROT_READ | PROT_WRITE;
  return r;
}

// The entries overlapping [lo, hi), sorted by address.
std::vector<MappedRange> entries(uintptr_t lo = 0, uintptr_t hi = ~uintptr_t{0}) {
  std::vector<MappedRange> out;
  mmap_table_each(lo, hi, [&](MappedRange& r) { out.push_back(r); });
  std::sort(out.begin(), out.end(), [](const MappedRange& a, const MappedRange& b) { return a.lo < b.lo; });
  return out;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(mmap_table, TableCase)

BOOST_AUTO_TEST_CASE(an_empty_table_overlaps_nothing) {
  BOOST_TEST(mmap_table_count() == 0u);
  BOOST_TEST(mmap_table_free() == kMaxMappedRanges);
  BOOST_TEST(!mmap_table_may_overlap(0, ~uintptr_t{0}));
  BOOST_TEST(!mmap_table_overlaps(0, ~uintptr_t{0}));
}

BOOST_AUTO_TEST_CASE(overlap_is_exact_and_half_open) {
  BOOST_REQUIRE(mmap_table_insert(range(kAt, kAt + 8 * kMiB)));
  BOOST_TEST(mmap_table_count() == 1u);
  BOOST_TEST(mmap_table_overlaps(kAt, kAt + 1));
  BOOST_TEST(mmap_table_overlaps(kAt + 8 * kMiB - 1, kAt + 8 * kMiB));
  BOOST_TEST(mmap_table_overlaps(kAt - kMiB, kAt + 9 * kMiB));
  BOOST_TEST(!mmap_table_overlaps(kAt - kMiB, kAt));
  BOOST_TEST(!mmap_table_overlaps(kAt + 8 * kMiB, kAt + 9 * kMiB));
  std::vector<MappedRange> all = entries();
  BOOST_REQUIRE(all.size() == 1u);
  BOOST_TEST(all[0].used);
  BOOST_TEST(all[0].prot == (PROT_READ | PROT_WRITE));
}

BOOST_AUTO_TEST_CASE(the_lock_free_check_is_a_bounding_box) {
  BOOST_REQUIRE(mmap_table_insert(range(kAt, kAt + 4 * kMiB)));
  BOOST_REQUIRE(mmap_table_insert(range(kAt + 100 * kMiB, kAt + 104 * kMiB)));
  // Between the entries: maybe (no false "no"), though nothing is there.
  BOOST_TEST(mmap_table_may_overlap(kAt + 50 * kMiB, kAt + 51 * kMiB));
  BOOST_TEST(!mmap_table_overlaps(kAt + 50 * kMiB, kAt + 51 * kMiB));
  BOOST_TEST(!mmap_table_may_overlap(kAt - kMiB, kAt));
  BOOST_TEST(!mmap_table_may_overlap(kAt + 104 * kMiB, kAt + 200 * kMiB));
  // Emptied, the box closes again.
  mmap_table_subtract(kAt, kAt + 104 * kMiB);
  BOOST_TEST(mmap_table_count() == 0u);
  BOOST_TEST(!mmap_table_may_overlap(kAt, kAt + 104 * kMiB));
}

BOOST_AUTO_TEST_CASE(insert_clips_the_huge_interval_to_whole_2mib_pages_of_the_range) {
  // A range starting and ending mid-page: whole pages inside it only.
  BOOST_REQUIRE(mmap_table_insert(range(kAt + kMiB, kAt + 9 * kMiB, MapKind::hugetlb, kAt, kAt + 10 * kMiB)));
  // Smaller than one 2 MiB page: no huge interval at all.
  BOOST_REQUIRE(mmap_table_insert(range(kAt + 20 * kMiB, kAt + 21 * kMiB, MapKind::hugetlb, kAt + 20 * kMiB,
                                        kAt + 22 * kMiB)));
  std::vector<MappedRange> all = entries();
  BOOST_REQUIRE(all.size() == 2u);
  BOOST_TEST(all[0].huge_lo == kAt + 2 * kMiB);
  BOOST_TEST(all[0].huge_hi == kAt + 8 * kMiB);
  BOOST_TEST(all[1].huge_lo == 0u);
  BOOST_TEST(all[1].huge_hi == 0u);
}

BOOST_AUTO_TEST_CASE(subtracting_the_middle_splits_an_entry_in_two) {
  BOOST_REQUIRE(mmap_table_insert(range(kAt, kAt + 16 * kMiB, MapKind::file_private, kAt, kAt + 16 * kMiB)));
  mmap_table_subtract(kAt + 5 * kMiB, kAt + 9 * kMiB);
  BOOST_TEST(mmap_table_count() == 2u);
  BOOST_TEST(!mmap_table_overlaps(kAt + 5 * kMiB, kAt + 9 * kMiB));
  std::vector<MappedRange> all = entries();
  BOOST_REQUIRE(all.size() == 2u);
  BOOST_TEST(all[0].lo == kAt);
  BOOST_TEST(all[0].hi == kAt + 5 * kMiB);
  BOOST_TEST(all[0].huge_lo == kAt);
  BOOST_TEST(all[0].huge_hi == kAt + 4 * kMiB);
  BOOST_TEST(all[1].lo == kAt + 9 * kMiB);
  BOOST_TEST(all[1].hi == kAt + 16 * kMiB);
  BOOST_TEST(all[1].huge_lo == kAt + 10 * kMiB);
  BOOST_TEST(all[1].huge_hi == kAt + 16 * kMiB);
  for (const MappedRange& r : all) {
    BOOST_TEST((r.kind == MapKind::file_private));
    BOOST_TEST(r.prot == (PROT_READ | PROT_WRITE));
  }
}

BOOST_AUTO_TEST_CASE(subtracting_an_end_trims_and_covering_drops) {
  BOOST_REQUIRE(mmap_table_insert(range(kAt, kAt + 8 * kMiB, MapKind::hugetlb, kAt, kAt + 8 * kMiB)));
  mmap_table_subtract(kAt - 2 * kMiB, kAt + 3 * kMiB);  // the head, from below
  mmap_table_subtract(kAt + 7 * kMiB, kAt + 30 * kMiB); // the tail, past the end
  std::vector<MappedRange> all = entries();
  BOOST_REQUIRE(all.size() == 1u);
  BOOST_TEST(all[0].lo == kAt + 3 * kMiB);
  BOOST_TEST(all[0].hi == kAt + 7 * kMiB);
  BOOST_TEST(all[0].huge_lo == kAt + 4 * kMiB);
  BOOST_TEST(all[0].huge_hi == kAt + 6 * kMiB);
  mmap_table_subtract(kAt + 3 * kMiB, kAt + 7 * kMiB);
  BOOST_TEST(mmap_table_count() == 0u);
  BOOST_TEST(mmap_table_free() == kMaxMappedRanges);
}

BOOST_AUTO_TEST_CASE(one_subtraction_handles_every_entry_it_touches) {
  for (uintptr_t i = 0; i < 4; ++i)
    BOOST_REQUIRE(mmap_table_insert(range(kAt + i * 10 * kMiB, kAt + i * 10 * kMiB + 8 * kMiB)));
  // Cuts the tail of #0, drops #1 and #2, cuts the head of #3.
  mmap_table_subtract(kAt + 4 * kMiB, kAt + 34 * kMiB);
  std::vector<MappedRange> all = entries();
  BOOST_REQUIRE(all.size() == 2u);
  BOOST_TEST(all[0].lo == kAt);
  BOOST_TEST(all[0].hi == kAt + 4 * kMiB);
  BOOST_TEST(all[1].lo == kAt + 34 * kMiB);
  BOOST_TEST(all[1].hi == kAt + 38 * kMiB);
  // Each split keeps both pieces; a later cut trims, drops and trims again.
  mmap_table_subtract(kAt + kMiB, kAt + 2 * kMiB);
  mmap_table_subtract(kAt + 35 * kMiB, kAt + 36 * kMiB);
  BOOST_TEST(mmap_table_count() == 4u);
  BOOST_REQUIRE(mmap_table_insert(range(kAt + 10 * kMiB, kAt + 30 * kMiB)));
  mmap_table_subtract(kAt + 3 * kMiB, kAt + 37 * kMiB);
  all = entries();
  BOOST_REQUIRE(all.size() == 3u);
  BOOST_TEST(all[0].hi == kAt + kMiB);
  BOOST_TEST(all[1].lo == kAt + 2 * kMiB);
  BOOST_TEST(all[1].hi == kAt + 3 * kMiB);
  BOOST_TEST(all[2].lo == kAt + 37 * kMiB);
  BOOST_TEST(all[2].hi == kAt + 38 * kMiB);
}

BOOST_AUTO_TEST_CASE(a_full_table_refuses_and_a_split_there_drops_the_upper_piece) {
  for (uintptr_t i = 0; i < kMaxMappedRanges; ++i)
    BOOST_REQUIRE(mmap_table_insert(range(kAt + i * 4 * kMiB, kAt + i * 4 * kMiB + 2 * kMiB, MapKind::thp)));
  BOOST_TEST(mmap_table_free() == 0u);
  BOOST_TEST(mmap_table_count() == kMaxMappedRanges);
  BOOST_TEST(!mmap_table_insert(range(0, 2 * kMiB, MapKind::thp)));
  // No slot for the upper piece: a thp entry loses track of it (table.h).
  mmap_table_subtract(kAt + kMiB / 2, kAt + kMiB);
  BOOST_TEST(mmap_table_count() == kMaxMappedRanges);
  BOOST_TEST(mmap_table_overlaps(kAt, kAt + kMiB / 2));
  BOOST_TEST(!mmap_table_overlaps(kAt + kMiB, kAt + 2 * kMiB));
  // A dropped entry frees its slot for the next insert.
  mmap_table_subtract(kAt + 4 * kMiB, kAt + 6 * kMiB);
  BOOST_TEST(mmap_table_free() == 1u);
  BOOST_TEST(mmap_table_insert(range(0, 2 * kMiB, MapKind::thp)));
  BOOST_TEST(mmap_table_free() == 0u);
  // The last slot's entry still counts after lower slots emptied.
  mmap_table_subtract(kAt, kAt + 4 * kMiB * (kMaxMappedRanges - 1));
  BOOST_TEST(mmap_table_count() == 2u);
  BOOST_TEST(mmap_table_overlaps(kAt + 4 * kMiB * (kMaxMappedRanges - 1), ~uintptr_t{0}));
}

BOOST_AUTO_TEST_SUITE_END()
