// The malloc family under the shim behaves as glibc documents: each case runs
// the same probe commands with and without the shim where results must agree,
// and checks the documented properties directly.
#define BOOST_TEST_MODULE api
#include <boost/test/unit_test.hpp>

#include "probe_client.h"

using namespace hugeshim_test;

namespace {

const uint64_t kLarge = 64 * kMiB;

Env shim_env() { return with_shim({{"HUGESHIM_CACHE", "0"}, {"HUGESHIM_PAGES", "thp"}}); }

bool ours(uint64_t addr) { return addr % (2 * kMiB) == 0; }

}  // namespace

BOOST_AUTO_TEST_CASE(operator_new_reaches_malloc) {
  Probe probe(shim_env());
  Answer a = probe.call("new " + std::to_string(kLarge));
  BOOST_REQUIRE_NE(a.addr, 0u);
  BOOST_CHECK(ours(a.addr));
  probe.fill(a.addr, kLarge, 4);
  BOOST_CHECK_EQUAL(probe.ask("delete " + Probe::hex(a.addr)), "ok 4242");
  BOOST_CHECK_EQUAL(probe.finish(), 0);
}

BOOST_AUTO_TEST_CASE(realloc_grows_in_place_keeps_contents_and_shrinks_in_place) {
  Probe probe(shim_env());
  Answer a = probe.call("malloc " + std::to_string(kLarge));
  BOOST_REQUIRE(ours(a.addr));
  probe.fill(a.addr, kLarge, 0x33);
  Answer grown = probe.call("realloc " + Probe::hex(a.addr) + " " + std::to_string(2 * kLarge));
  BOOST_CHECK_EQUAL(grown.addr, a.addr);  // the space after it is free
  BOOST_CHECK_EQUAL(probe.check(grown.addr, kLarge, 0x33), "ok");
  BOOST_CHECK_GE(probe.usable(grown.addr), 2 * kLarge);
  probe.fill(grown.addr, 2 * kLarge, 0x44);
  Answer shrunk = probe.call("realloc " + Probe::hex(grown.addr) + " " + std::to_string(kLarge / 2 + 100));
  BOOST_CHECK_EQUAL(shrunk.addr, a.addr);
  BOOST_CHECK_EQUAL(probe.check(shrunk.addr, kLarge / 2 + 100, 0x44), "ok");
  BOOST_CHECK_LT(probe.usable(shrunk.addr), kLarge);
  // The pages past the new end went back to the system.
  BOOST_CHECK_LE(smaps_range(probe.pid(), a.addr, 2 * kLarge).rss_kb, (kLarge / 2 + 2 * kMiB) / 1024);
  BOOST_CHECK_EQUAL(probe.finish(), 0);
}

BOOST_AUTO_TEST_CASE(realloc_moves_when_blocked_and_crosses_the_threshold_both_ways) {
  Probe probe(shim_env());
  Answer a = probe.call("malloc " + std::to_string(kLarge));
  Answer blocker = probe.call("malloc " + std::to_string(kLarge));
  BOOST_REQUIRE(ours(a.addr) && ours(blocker.addr));
  probe.fill(a.addr, kLarge, 0x55);
  // blocker sits right after a (first fit), so a must move to grow.
  Answer moved = probe.call("realloc " + Probe::hex(a.addr) + " " + std::to_string(3 * kLarge));
  BOOST_REQUIRE_NE(moved.addr, 0u);
  BOOST_CHECK(ours(moved.addr));
  BOOST_CHECK_EQUAL(probe.check(moved.addr, kLarge, 0x55), "ok");
  // Below the threshold: back to the heap, first bytes kept.
  Answer small = probe.call("realloc " + Probe::hex(moved.addr) + " 1000");
  BOOST_REQUIRE_NE(small.addr, 0u);
  BOOST_CHECK(!ours(small.addr));
  BOOST_CHECK_EQUAL(probe.check(small.addr, 1000, 0x55), "ok");
  // A heap block growing past the threshold moves into a region.
  Answer big = probe.call("realloc " + Probe::hex(small.addr) + " " + std::to_string(kLarge));
  BOOST_CHECK(ours(big.addr));
  BOOST_CHECK_EQUAL(probe.check(big.addr, 1000, 0x55), "ok");
  // realloc(p, 0) frees and returns NULL (glibc).
  Answer zero = probe.call("realloc " + Probe::hex(big.addr) + " 0");
  BOOST_CHECK_EQUAL(zero.addr, 0u);
  // realloc(NULL, n) is malloc(n).
  Answer fresh = probe.call("realloc 0 " + std::to_string(kLarge));
  BOOST_CHECK(ours(fresh.addr));
  probe.free(fresh.addr);
  probe.free(blocker.addr);
  BOOST_CHECK_EQUAL(probe.finish(), 0);
}

BOOST_AUTO_TEST_CASE(calloc_zeroes_and_rejects_overflow) {
  Probe probe(with_shim({{"HUGESHIM_PAGES", "thp"}, {"HUGESHIM_CACHE", "1GiB"}}));
  Answer a = probe.call("calloc " + std::to_string(kLarge));
  BOOST_REQUIRE(ours(a.addr));
  BOOST_CHECK_EQUAL(probe.check(a.addr, kLarge, 0), "ok");
  probe.fill(a.addr, kLarge, 0xff);
  probe.free(a.addr);
  Answer again = probe.call("calloc " + std::to_string(kLarge));
  BOOST_CHECK_EQUAL(again.addr, a.addr);  // reused from the cache
  BOOST_CHECK_EQUAL(probe.check(again.addr, kLarge, 0), "ok");
  BOOST_CHECK_EQUAL(probe.finish(), 0);
}

BOOST_AUTO_TEST_CASE(posix_memalign_honours_alignments_from_64_bytes_to_1_gib) {
  Probe probe(shim_env());
  for (uint64_t align = 64; align <= kGiB; align <<= 1) {
    Answer a = probe.call("posix_memalign " + std::to_string(align) + " " + std::to_string(8 * kMiB));
    BOOST_TEST_CONTEXT("align " << align) {
      BOOST_REQUIRE_EQUAL(a.code, 0);
      BOOST_CHECK_EQUAL(a.addr % align, 0u);
      BOOST_CHECK(ours(a.addr));
      probe.fill(a.addr, 4096, 1);
      probe.free(a.addr);
    }
  }
  // Small requests keep glibc's answers, including EINVAL for a bad alignment.
  Answer small = probe.call("posix_memalign 4096 100");
  BOOST_CHECK_EQUAL(small.code, 0);
  BOOST_CHECK_EQUAL(small.addr % 4096, 0u);
  BOOST_CHECK_EQUAL(probe.call("posix_memalign 24 " + std::to_string(kLarge)).code, EINVAL);
  BOOST_CHECK_EQUAL(probe.call("posix_memalign 4 " + std::to_string(kLarge)).code, EINVAL);
  BOOST_CHECK_EQUAL(probe.finish(), 0);
}

BOOST_AUTO_TEST_CASE(aligned_alloc_memalign_valloc_pvalloc_match_glibc) {
  const std::vector<std::string> commands = {
      "aligned_alloc 4096 " + std::to_string(kLarge), "aligned_alloc 3 " + std::to_string(kLarge),
      "memalign 65536 " + std::to_string(kLarge),     "memalign 1000 " + std::to_string(kLarge),
      "valloc " + std::to_string(kLarge),             "pvalloc " + std::to_string(kLarge + 10),
      "memalign 64 100",                              "pvalloc 0"};
  Probe shim(shim_env());
  Probe plain({});
  for (const auto& cmd : commands) {
    BOOST_TEST_CONTEXT(cmd) {
      Answer s = shim.call(cmd), p = plain.call(cmd);
      BOOST_CHECK_EQUAL(s.addr != 0, p.addr != 0);
      BOOST_CHECK_EQUAL(s.code, p.code);
      std::istringstream in(cmd);
      std::string name;
      uint64_t align = 0, size = 0;
      in >> name >> align >> size;
      if (name == "valloc" || name == "pvalloc") {
        BOOST_CHECK_EQUAL(s.addr % 4096, 0u);
      } else {
        uint64_t want = 1;
        while (want < align) want <<= 1;  // glibc rounds up a non-power-of-two alignment
        BOOST_CHECK_EQUAL(s.addr % want, 0u);
      }
      if (name == "pvalloc") {
        // pvalloc rounds the size up to whole pages.
        BOOST_CHECK_GE(shim.usable(s.addr), (align + 4095) / 4096 * 4096);
        BOOST_CHECK_GE(shim.usable(s.addr), 1u);
      }
      if (s.addr) shim.free(s.addr);
    }
  }
  BOOST_CHECK_EQUAL(shim.finish(), 0);
  BOOST_CHECK_EQUAL(plain.finish(), 0);
}

BOOST_AUTO_TEST_CASE(malloc_usable_size_is_right_for_regions_and_the_heap) {
  Probe probe(shim_env());
  Answer a = probe.call("malloc " + std::to_string(kLarge + 1));
  BOOST_REQUIRE(ours(a.addr));
  uint64_t usable = probe.usable(a.addr);
  BOOST_CHECK_GE(usable, kLarge + 1);
  BOOST_CHECK_LE(usable, kLarge + 4096);  // at most one base page of slack
  probe.fill(a.addr, usable, 8);          // every usable byte is writable
  Answer small = probe.call("malloc 100");
  BOOST_CHECK_GE(probe.usable(small.addr), 100u);
  BOOST_CHECK_EQUAL(probe.usable(0), 0u);
  BOOST_CHECK_EQUAL(probe.finish(), 0);
}

BOOST_AUTO_TEST_CASE(fork_and_fork_exec_children_work) {
  HugePool pool(96);
  Probe probe(with_shim({{"HUGESHIM_PAGES", "2M,thp"}}));
  Answer a = probe.call("malloc " + std::to_string(kLarge));
  BOOST_REQUIRE(ours(a.addr));
  probe.fill(a.addr, kLarge, 0x21);
  // The child sees the parent's bytes, writes its own copy, allocates large memory.
  BOOST_CHECK_EQUAL(probe.ask("fork_check " + Probe::hex(a.addr) + " " + std::to_string(kLarge) + " 33 66"), "0");
  BOOST_CHECK_EQUAL(probe.check(a.addr, kLarge, 0x21), "ok");  // parent unchanged
  BOOST_CHECK_EQUAL(probe.ask("fork_exec"), "0");
  probe.free(a.addr);
  BOOST_CHECK_EQUAL(probe.finish(), 0);
}
