// The kernel's semantics survive the shim: the same mmap_probe script run
// without the shim and under it (THP path, hugetlb path, hugetlb path with an
// empty pool) gives the same return values, errno, contents, protections and
// mapped pages. Offsets like 1M+4K cut 2 MiB pages on purpose.
#define BOOST_TEST_MODULE mmap_semantics
#include <boost/test/unit_test.hpp>

#include "mmap_probe_client.h"
#include "thp_mode.h"

using namespace hugeshim_test;

namespace {

// An over-sized mapping trimmed by the program: at odd offsets, and to an
// alignment the way allocators do.
const char* kTrim =
    "map raw 70M+12K rw\n"
    "fill raw 70M+12K 3\n"
    "munmap raw 1M+4K\n"
    "set a raw+1M+4K\n"
    "munmap a+60M 9M+8K\n"
    "layout a 60M\n"
    "sum a 60M\n"
    "read raw\n"
    "read a+60M\n"
    "mapped a-4K 60M+8K\n"
    "map raw2 40M rw\n"
    "trim b raw2 40M 8M 24M\n"
    "fill b 24M 9\n"
    "sum b 24M\n"
    "layout b 24M\n"
    "mremap b2 b 24M 12M+4K\n"
    "sum b2 12M+4K\n"
    "read b+12M+4K\n"
    "munmap b 12M+4K\n"
    "munmap a 60M\n"
    "read a+30M\n";

// A hole punched in the middle; mremap grow in place, refused grow, move,
// shrink, MREMAP_FIXED and MREMAP_DONTUNMAP.
const char* kRemap =
    "map c 100M rw\n"
    "fill c 100M 5\n"
    "munmap c+40M+4K 10M-4K\n"
    "layout c 100M\n"
    "mapped c 100M\n"
    "read c+45M\n"
    "mremap c2 c 40M+4K 45M\n"
    "sum c 45M\n"
    "mremap c3 c 45M 60M\n"
    "mremap c4 c 45M 60M maymove\n"
    "sum c4 60M\n"
    "read c\n"
    "mremap c5 c4 60M 30M+4K\n"
    "sum c4 30M+4K\n"
    "read c4+31M\n"
    "map d 64M rw\n"
    "fill d 64M 11\n"
    "mremap d2 d 64M 33M+4K\n"
    "sum d 33M+4K\n"
    "read d+40M\n"
    "map e 40M rw\n"
    "fill e 40M 13\n"
    "mremap e2 d 16M 16M maymove fixed e+4K\n"
    "sum e 40M\n"
    "read d\n"
    "sum d+16M 17M+4K\n"
    "map f 8M rw\n"
    "fill f 8M 17\n"
    "mremap f2 f 8M 8M maymove dontunmap\n"
    "sum f 8M\n"
    "sum f2 8M\n"
    "mremap x c+50M 8M 8M maymove\n"
    "mremap x e 0 8M maymove\n"
    "mremap x c+1 4K 8K maymove\n"
    "mremap x e 8M 0 maymove\n";

// mprotect of a sub-range, across a hole, and mremap across protections.
const char* kProtect =
    "map g 64M rw\n"
    "fill g 64M 1\n"
    "mprotect g+3M+4K 10M r\n"
    "layout g 64M\n"
    "write g+5M 1\n"
    "write g+14M 1\n"
    "read g+5M\n"
    "mremap x g 20M 20M maymove\n"
    "mprotect g+3M+4K 10M rw\n"
    "write g+5M 1\n"
    "mremap g2 g 64M 32M\n"
    "sum g2 32M\n"
    "map h 30M rw\n"
    "fill h 30M 2\n"
    "munmap h+10M 4K\n"
    "mprotect h+8M 4M r\n"
    "layout h 30M\n"
    "mremap x h+9M 2M 2M maymove\n"
    "mprotect h+2M 1M none\n"
    "read h+2M+4K\n"
    "sum h 2M\n"
    "mprotect h 10M none\n"
    "mprotect h 10M rw\n"
    "sum h 10M\n"
    "munmap h+1 4K\n"
    "munmap h 0\n"
    "mprotect h+1 4K r\n";

// madvise on parts, over a hole, and a MAP_FIXED mapping over a part.
const char* kAdvise =
    "map k 16M rw\n"
    "fill k 16M 7\n"
    "munmap k+15M 1M\n"
    "madvise k+1M+4K 2M dontneed\n"
    "sum k 15M\n"
    "madvise k+2M 2M populate_write\n"
    "madvise k 16M willneed\n"
    "madvise k+4M 4M nohugepage\n"
    "madvise k+8M 4M+4K wipeonfork\n"
    "sum k 15M\n"
    "map m 16M rw\n"
    "fill m 16M 2\n"
    "map m2 4M rw fixed m+6M+4K\n"
    "sum m 16M\n"
    "layout m 16M\n"
    "map n 8M rw populate\n"
    "mapped n 8M\n"
    "sum n 8M\n"
    "map s 16M rw shared\n"
    "fill s 16M 4\n"
    "munmap s+1M 4K\n"
    "sum s 1M\n";

// fork: the child's copy-on-write pages and its own cuts leave the parent
// alone; threads mapping, cutting and unmapping at once.
const char* kConcurrent =
    "map p 16M rw\n"
    "fill p 16M 21\n"
    "fork p 16M\n"
    "sum p 16M\n"
    "threads 2 25\n";

void all_scripts(const Env& env) {
  for (const char* script : {kTrim, kRemap, kProtect, kAdvise, kConcurrent}) same_as_kernel(script, env);
}

}  // namespace

BOOST_AUTO_TEST_CASE(thp_path_keeps_kernel_semantics, *needs_thp_enabled()) {
  all_scripts({{"HUGESHIM_MIN_SIZE", "4MiB"}});
}

BOOST_AUTO_TEST_CASE(hugetlb_path_keeps_kernel_semantics) {
  HugePool pool(200);
  long free_before = pool.free_pages();
  all_scripts({{"HUGESHIM_PAGES", "2M,thp"}, {"HUGESHIM_MIN_SIZE", "4MiB"}});
  BOOST_CHECK_EQUAL(meminfo("HugePages_Free"), free_before);
}

BOOST_AUTO_TEST_CASE(hugetlb_path_with_an_empty_pool_keeps_kernel_semantics) {
  HugePool pool(0);
  all_scripts({{"HUGESHIM_PAGES", "2M,thp"}});
  all_scripts({{"HUGESHIM_PAGES", "2M"}});
}

BOOST_AUTO_TEST_CASE(scripts_really_cut_hugetlb_pages) {
  // The comparisons above only mean something if the hugetlb path was taken:
  // the first mapping of kTrim holds 35 hugetlb pages before its trims.
  HugePool pool(200);
  MmapProbe probe(with_shim({{"HUGESHIM_PAGES", "2M,thp"}}));
  BOOST_REQUIRE_EQUAL(probe.ask("map raw 70M rw"), "ok");
  BOOST_REQUIRE_EQUAL(probe.ask("fill raw 70M 3"), "ok");
  uint64_t raw = probe.addr("raw");
  BOOST_CHECK_EQUAL(smaps_range(probe.pid(), raw, 70 * kMiB).hugetlb_kb, 70 * 1024u);
  BOOST_CHECK_EQUAL(probe.ask("munmap raw 1M+4K"), "0 0");
  BOOST_CHECK_EQUAL(probe.ask("set a raw+1M+4K"), "ok");
  BOOST_CHECK_EQUAL(probe.ask("munmap a+60M 9M-4K"), "0 0");
  // 2 MiB pages wholly kept stay hugetlb; the two cut ones became base pages.
  SmapsSummary s = smaps_range(probe.pid(), raw + kMiB + 4096, 60 * kMiB);
  BOOST_CHECK_EQUAL(s.hugetlb_kb, 29 * 2048u);
  BOOST_CHECK_EQUAL(probe.finish(), 0);
}
