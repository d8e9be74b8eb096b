// The CUDA path of the shim against the cudart test doubles (libcudart.so.13
// linked by cuda_app_double, libcudart.so.12 by its caller library): what the
// program sees, what the runtime received, and what the ring recorded.
#define BOOST_TEST_MODULE cuda_double
#include <boost/test/unit_test.hpp>

#include <algorithm>

#include "cudart_double.h"
#include "cuda_run.h"
#include "hugeshim/events.h"

using namespace cuda_test;

namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr const char* kApp = "cuda_app_double";

// Enough 2 MiB pages for every case (two 32 MiB regions at most at once).
struct PoolFixture {
  hugeshim_test::HugePool pool{hugeshim_test::meminfo("HugePages_Total") + 64};
};

std::vector<DoubleCall> only(const std::vector<DoubleCall>& calls, int op) {
  std::vector<DoubleCall> out;
  for (const auto& c : calls)
    if (c.op == op) out.push_back(c);
  return out;
}

uint64_t hex(const std::string& s) { return std::stoull(s, nullptr, 16); }

}  // namespace

BOOST_FIXTURE_TEST_SUITE(cuda_double, PoolFixture)

BOOST_AUTO_TEST_CASE(substitution_registers_in_chunks_and_records_phases) {
  AppRun r = run_app(kApp,
                     "alloc 20971520 0\npagekb\nflags\ndevptr\nwrite 20971520\ncheck 20971520\n"
                     "calls\nfree\ncalls\n",
                     cuda_env());
  BOOST_TEST_INFO("stderr: " << r.err);
  BOOST_REQUIRE_EQUAL(r.status, 0);
  BOOST_REQUIRE_EQUAL(r.lines.size(), 9u);
  BOOST_TEST(field(r.lines[0], "rc") == "0");
  uint64_t p = hex(field(r.lines[0], "ptr"));
  BOOST_TEST(p % (2 * kMiB) == 0u);
  BOOST_TEST(r.lines[1] == "kb=2048");
  BOOST_TEST(r.lines[2] == "rc=0 flags=0");
  BOOST_TEST(r.lines[3] == "rc=0 same=1");
  BOOST_TEST(r.lines[5] == "bad=0");

  auto calls = parse_calls(r.lines[6]);
  BOOST_TEST(only(calls, CUDART_DOUBLE_HOST_ALLOC).empty());
  auto regs = only(calls, CUDART_DOUBLE_HOST_REGISTER);
  BOOST_REQUIRE_EQUAL(regs.size(), 3u);
  const uint64_t sizes[] = {8 * kMiB, 8 * kMiB, 4 * kMiB};
  for (size_t i = 0; i < 3; ++i) {
    BOOST_TEST(regs[i].ptr == p + i * 8 * kMiB);
    BOOST_TEST(regs[i].size == sizes[i]);
    BOOST_TEST(regs[i].flags == 3u);  // Portable|Mapped, as native memory is under UVA
    BOOST_TEST(regs[i].result == 0);
  }
  BOOST_TEST(field(r.lines[7], "rc") == "0");
  auto unregs = only(parse_calls(r.lines[8]), CUDART_DOUBLE_HOST_UNREGISTER);
  BOOST_REQUIRE_EQUAL(unregs.size(), 3u);
  for (size_t i = 0; i < 3; ++i) BOOST_TEST(unregs[i].ptr == p + i * 8 * kMiB);
  BOOST_TEST(only(parse_calls(r.lines[8]), CUDART_DOUBLE_FREE_HOST).empty());

  auto allocs = of_api(r, HUGESHIM_API_CUDA_HOST_ALLOC);
  BOOST_REQUIRE_EQUAL(allocs.size(), 1u);
  const auto& a = allocs[0];
  BOOST_TEST((a.flags & HUGESHIM_EVENT_REDIRECTED) != 0u);
  BOOST_TEST((a.flags & HUGESHIM_EVENT_FAILED) == 0u);
  BOOST_TEST(a.address == p);
  BOOST_TEST(a.requested == 20 * kMiB);
  BOOST_TEST(a.mapped == 20 * kMiB);
  BOOST_TEST(a.page_bytes[HUGESHIM_PAGE_2M] == 20 * kMiB);
  BOOST_TEST(a.phase_ns[HUGESHIM_PHASE_RESERVE] > 0u);
  BOOST_TEST(a.phase_ns[HUGESHIM_PHASE_POPULATE] > 0u);
  BOOST_TEST(a.phase_ns[HUGESHIM_PHASE_REGISTER] > 0u);
  BOOST_TEST(a.translations == 10u);
  BOOST_TEST(a.result == 0);
  BOOST_TEST(a.gpu >= 0);  // the double's device entered the GPU table
  auto frees = of_api(r, HUGESHIM_API_CUDA_FREE_HOST);
  BOOST_REQUIRE_EQUAL(frees.size(), 1u);
  BOOST_TEST((frees[0].flags & HUGESHIM_EVENT_REDIRECTED) != 0u);
  BOOST_TEST(frees[0].address == p);
  BOOST_TEST(frees[0].phase_ns[HUGESHIM_PHASE_REGISTER] > 0u);  // the unregistration
}

BOOST_AUTO_TEST_CASE(asked_flags_are_reported_and_mallochost_is_substituted) {
  AppRun r = run_app(kApp,
                     "alloc 8388608 1\nflags\nfree\nalloc 8388608 2\nflags\ndevptr\nfree\n"
                     "alloc 8388608 3\nflags\nfree\nmallochost 8388608\nflags\nfree\ncalls\n",
                     cuda_env());
  BOOST_REQUIRE_EQUAL(r.status, 0);
  BOOST_REQUIRE_EQUAL(r.lines.size(), 14u);
  BOOST_TEST(r.lines[1] == "rc=0 flags=1");
  BOOST_TEST(r.lines[4] == "rc=0 flags=2");
  BOOST_TEST(r.lines[5] == "rc=0 same=1");
  BOOST_TEST(r.lines[8] == "rc=0 flags=3");
  BOOST_TEST(r.lines[11] == "rc=0 flags=0");
  auto calls = parse_calls(r.lines[13]);
  BOOST_TEST(only(calls, CUDART_DOUBLE_HOST_ALLOC).empty());
  BOOST_TEST(only(calls, CUDART_DOUBLE_MALLOC_HOST).empty());
  BOOST_TEST(only(calls, CUDART_DOUBLE_HOST_GET_FLAGS).empty());  // emulated
  BOOST_TEST(only(calls, CUDART_DOUBLE_HOST_REGISTER).size() == 4u);
  auto mh = of_api(r, HUGESHIM_API_CUDA_MALLOC_HOST);
  BOOST_REQUIRE_EQUAL(mh.size(), 1u);
  BOOST_TEST((mh[0].flags & HUGESHIM_EVENT_REDIRECTED) != 0u);
}

BOOST_AUTO_TEST_CASE(write_combined_passes_through_and_its_free_is_forwarded) {
  AppRun r = run_app(kApp, "alloc 20971520 4\npagekb\nflags\nfree\ncalls\n", cuda_env());
  BOOST_REQUIRE_EQUAL(r.status, 0);
  BOOST_REQUIRE_EQUAL(r.lines.size(), 5u);
  BOOST_TEST(field(r.lines[0], "rc") == "0");
  uint64_t p = hex(field(r.lines[0], "ptr"));
  BOOST_TEST(r.lines[1] == "kb=4");
  BOOST_TEST(r.lines[2] == "rc=0 flags=4");  // the double's own answer
  auto calls = parse_calls(r.lines[4]);
  auto allocs = only(calls, CUDART_DOUBLE_HOST_ALLOC);
  BOOST_REQUIRE_EQUAL(allocs.size(), 1u);
  BOOST_TEST(allocs[0].flags == 4u);
  BOOST_TEST(allocs[0].size == 20 * kMiB);
  BOOST_TEST(only(calls, CUDART_DOUBLE_HOST_REGISTER).empty());
  BOOST_TEST(only(calls, CUDART_DOUBLE_FREE_HOST).size() == 1u);

  auto rec = of_api(r, HUGESHIM_API_CUDA_HOST_ALLOC);
  BOOST_REQUIRE_EQUAL(rec.size(), 1u);
  BOOST_TEST((rec[0].flags & HUGESHIM_EVENT_REDIRECTED) == 0u);
  BOOST_TEST(rec[0].fallback == HUGESHIM_FALLBACK_CUDA_FLAGS);
  BOOST_TEST(rec[0].cuda_flags == 4u);
  BOOST_TEST(rec[0].address == p);
  BOOST_TEST(rec[0].page_bytes[HUGESHIM_PAGE_BASE] == 20 * kMiB);
  BOOST_TEST(rec[0].translations == 20 * kMiB / 4096);
  auto frees = of_api(r, HUGESHIM_API_CUDA_FREE_HOST);
  BOOST_REQUIRE_EQUAL(frees.size(), 1u);
  BOOST_TEST(frees[0].requested == 20 * kMiB);  // the ledger knew the native allocation
  BOOST_TEST((frees[0].flags & HUGESHIM_EVENT_REDIRECTED) == 0u);
}

BOOST_AUTO_TEST_CASE(small_requests_go_to_the_runtime_unrecorded) {
  AppRun r = run_app(kApp, "alloc 1048576 0\nfree\ncalls\n", cuda_env());
  BOOST_REQUIRE_EQUAL(r.status, 0);
  auto calls = parse_calls(r.lines.at(2));
  BOOST_TEST(only(calls, CUDART_DOUBLE_HOST_ALLOC).size() == 1u);
  BOOST_TEST(only(calls, CUDART_DOUBLE_FREE_HOST).size() == 1u);
  BOOST_TEST(of_api(r, HUGESHIM_API_CUDA_HOST_ALLOC).empty());
  BOOST_TEST(of_api(r, HUGESHIM_API_CUDA_FREE_HOST).empty());
}

BOOST_AUTO_TEST_CASE(failed_registration_undoes_clears_the_error_and_falls_back) {
  AppRun r = run_app(kApp,
                     "hpfree\nfail_register 2 2\nalloc 20971520 0\npagekb\nlasterror\nhpfree\ncalls\nfree\n",
                     cuda_env());
  BOOST_REQUIRE_EQUAL(r.status, 0);
  BOOST_REQUIRE_EQUAL(r.lines.size(), 8u);
  BOOST_TEST(field(r.lines[2], "rc") == "0");
  BOOST_TEST(r.lines[3] == "kb=4");         // native memory
  BOOST_TEST(r.lines[4] == "rc=0");         // no sticky error left for the program
  BOOST_TEST(r.lines[5] == r.lines[0]);     // region's pages back in the pool
  auto calls = parse_calls(r.lines[6]);
  auto regs = only(calls, CUDART_DOUBLE_HOST_REGISTER);
  BOOST_REQUIRE_EQUAL(regs.size(), 2u);
  BOOST_TEST(regs[1].result == 2);
  auto unregs = only(calls, CUDART_DOUBLE_HOST_UNREGISTER);
  BOOST_REQUIRE_EQUAL(unregs.size(), 1u);
  BOOST_TEST(unregs[0].ptr == regs[0].ptr);
  BOOST_TEST(only(calls, CUDART_DOUBLE_HOST_ALLOC).size() == 1u);
  // Order: failed register, error cleared, undo, then the real allocation.
  auto pos = [&](int op) {
    return std::find_if(calls.begin(), calls.end(), [&](const DoubleCall& c) { return c.op == op; }) - calls.begin();
  };
  BOOST_TEST(pos(CUDART_DOUBLE_HOST_UNREGISTER) < pos(CUDART_DOUBLE_HOST_ALLOC));

  auto rec = of_api(r, HUGESHIM_API_CUDA_HOST_ALLOC);
  BOOST_REQUIRE_EQUAL(rec.size(), 1u);
  BOOST_TEST(rec[0].fallback == HUGESHIM_FALLBACK_REGISTER_FAILED);
  BOOST_TEST((rec[0].flags & HUGESHIM_EVENT_REDIRECTED) == 0u);
  BOOST_TEST((rec[0].flags & HUGESHIM_EVENT_FAILED) == 0u);  // the program got memory
  BOOST_TEST(rec[0].result == 0);
}

BOOST_AUTO_TEST_CASE(without_a_device_the_real_error_comes_back_and_nothing_succeeds) {
  AppRun r = run_app(kApp, "hpfree\nno_device 100\nalloc 20971520 0\nhpfree\nregister 8388608 0\ncalls\n",
                     cuda_env());
  BOOST_REQUIRE_EQUAL(r.status, 0);
  BOOST_REQUIRE_EQUAL(r.lines.size(), 6u);
  BOOST_TEST(r.lines[2] == "rc=100 ptr=0x1234");  // output untouched
  BOOST_TEST(r.lines[3] == r.lines[0]);
  BOOST_TEST(r.lines[4] == "rc=100");
  auto calls = parse_calls(r.lines[5]);
  BOOST_TEST(only(calls, CUDART_DOUBLE_HOST_ALLOC).size() == 1u);
  for (const auto& rec : r.records) {
    if (rec.api < HUGESHIM_API_CUDA_HOST_ALLOC) continue;
    BOOST_TEST((rec.flags & HUGESHIM_EVENT_FAILED) != 0u);
    BOOST_TEST(rec.result == 100);
  }
  BOOST_TEST(of_api(r, HUGESHIM_API_CUDA_HOST_ALLOC).size() == 1u);
}

BOOST_AUTO_TEST_CASE(each_caller_reaches_its_own_runtime_version) {
  AppRun r = run_app(kApp,
                     "alloc12 20971520 1\nflags12\ncalls12\ncalls\nfree12\ncalls12\n"
                     "alloc 8388608 0\ncalls\ncalls12\nfree\n",
                     cuda_env());
  BOOST_REQUIRE_EQUAL(r.status, 0);
  BOOST_REQUIRE_EQUAL(r.lines.size(), 10u);
  uint64_t p12 = hex(field(r.lines[0], "ptr"));
  BOOST_TEST(r.lines[1] == "rc=0 flags=1");
  auto regs12 = only(parse_calls(r.lines[2]), CUDART_DOUBLE_HOST_REGISTER);
  BOOST_REQUIRE_EQUAL(regs12.size(), 3u);
  BOOST_TEST(regs12[0].ptr == p12);
  BOOST_TEST(parse_calls(r.lines[3]).empty());  // the 13 runtime saw nothing
  BOOST_TEST(only(parse_calls(r.lines[5]), CUDART_DOUBLE_HOST_UNREGISTER).size() == 3u);
  BOOST_TEST(only(parse_calls(r.lines[7]), CUDART_DOUBLE_HOST_REGISTER).size() == 1u);
  BOOST_TEST(only(parse_calls(r.lines[8]), CUDART_DOUBLE_HOST_REGISTER).size() == 3u);  // unchanged
}

BOOST_AUTO_TEST_CASE(app_registrations_are_forwarded_and_recorded_with_their_pages) {
  // Redirected malloc memory (2 MiB pages, faulted by the registration) and
  // a foreign anonymous mmap (base pages), both registered by the program.
  // The first three commands warm the pool's pages: on a VM the first touch
  // of a page fresh in the pool costs the host's fault too (~90 ms per
  // 32 MiB here), which is not what this compares.
  AppRun r = run_app(kApp,
                     "malloc 33554432\nwrite 33554432\nrelease\n"
                     "malloc 33554432\nregister 33554432 0\nunregister\nmmap 33554432\n"
                     "register 33554432 1\nregister 33554432 0\nunregister\ncalls\n",
                     cuda_env());
  BOOST_REQUIRE_EQUAL(r.status, 0);
  BOOST_REQUIRE_EQUAL(r.lines.size(), 11u);
  r.lines.erase(r.lines.begin(), r.lines.begin() + 3);
  BOOST_TEST(r.lines[1] == "rc=0");
  BOOST_TEST(r.lines[2] == "rc=0");
  BOOST_TEST(r.lines[4] == "rc=0");
  BOOST_TEST(r.lines[5] == "rc=712");  // overlapping: the runtime's own answer
  BOOST_TEST(r.lines[6] == "rc=0");
  auto regs = only(parse_calls(r.lines[7]), CUDART_DOUBLE_HOST_REGISTER);
  BOOST_REQUIRE_EQUAL(regs.size(), 3u);
  BOOST_TEST(regs[0].ptr == hex(field(r.lines[0], "ptr")));
  BOOST_TEST(regs[0].size == 32 * kMiB);
  BOOST_TEST(regs[0].flags == 0u);  // forwarded unchanged
  BOOST_TEST(regs[1].flags == 1u);

  auto rec = of_api(r, HUGESHIM_API_CUDA_HOST_REGISTER);
  BOOST_REQUIRE_EQUAL(rec.size(), 3u);
  const auto& huge = rec[0];
  BOOST_TEST((huge.flags & HUGESHIM_EVENT_REDIRECTED) != 0u);
  BOOST_TEST(huge.page_bytes[HUGESHIM_PAGE_2M] == 32 * kMiB);
  BOOST_TEST(huge.translations == 16u);
  BOOST_TEST(huge.requested == 32 * kMiB);
  const auto& foreign = rec[1];
  BOOST_TEST((foreign.flags & HUGESHIM_EVENT_FOREIGN) != 0u);
  BOOST_TEST(foreign.page_bytes[HUGESHIM_PAGE_BASE] + foreign.page_bytes[HUGESHIM_PAGE_THP] == 32 * kMiB);
  BOOST_TEST(foreign.translations >= 16u);
  BOOST_TEST(foreign.cuda_flags == 1u);
  BOOST_TEST((rec[2].flags & HUGESHIM_EVENT_FAILED) != 0u);
  BOOST_TEST(rec[2].result == 712);
  // Pinning 2 MiB pages faults 16 pages; base pages fault 8192: the huge
  // page registration is the faster one (here ~4x; asserted loosely).
  BOOST_TEST_MESSAGE("register 32 MiB: huge pages " << huge.phase_ns[HUGESHIM_PHASE_REGISTER] / 1000
                     << " us, base pages " << foreign.phase_ns[HUGESHIM_PHASE_REGISTER] / 1000 << " us");
  BOOST_TEST(huge.phase_ns[HUGESHIM_PHASE_REGISTER] < foreign.phase_ns[HUGESHIM_PHASE_REGISTER]);

  auto unrec = of_api(r, HUGESHIM_API_CUDA_HOST_UNREGISTER);
  BOOST_REQUIRE_EQUAL(unrec.size(), 2u);
  BOOST_TEST(unrec[0].requested == 32 * kMiB);
  BOOST_TEST((unrec[0].flags & HUGESHIM_EVENT_REDIRECTED) != 0u);
  BOOST_TEST((unrec[1].flags & HUGESHIM_EVENT_FOREIGN) != 0u);
}

BOOST_AUTO_TEST_CASE(our_registration_is_invisible_to_the_program) {
  AppRun r = run_app(kApp, "alloc 8388608 0\nunregister\nregister 2097152 0\ncalls\nfree\n", cuda_env());
  BOOST_REQUIRE_EQUAL(r.status, 0);
  BOOST_REQUIRE_EQUAL(r.lines.size(), 5u);
  BOOST_TEST(r.lines[1] == "rc=713");  // as on native cudaHostAlloc memory
  BOOST_TEST(r.lines[2] == "rc=712");
  BOOST_TEST(only(parse_calls(r.lines[3]), CUDART_DOUBLE_HOST_UNREGISTER).empty());
  BOOST_TEST(r.lines[4] == "rc=0");
}

BOOST_AUTO_TEST_CASE(cached_region_keeps_its_registration_for_reuse) {
  AppRun r = run_app(kApp, "alloc 8388608 0\nfree\nalloc 8388608 0\ncalls\nfree\n",
                     cuda_env({{"HUGESHIM_CACHE", "64M"}}));
  BOOST_REQUIRE_EQUAL(r.status, 0);
  BOOST_REQUIRE_EQUAL(r.lines.size(), 5u);
  BOOST_TEST(field(r.lines[0], "ptr") == field(r.lines[2], "ptr"));
  auto calls = parse_calls(r.lines[3]);
  BOOST_TEST(only(calls, CUDART_DOUBLE_HOST_REGISTER).size() == 1u);
  BOOST_TEST(only(calls, CUDART_DOUBLE_HOST_UNREGISTER).empty());
  auto allocs = of_api(r, HUGESHIM_API_CUDA_HOST_ALLOC);
  BOOST_REQUIRE_EQUAL(allocs.size(), 2u);
  BOOST_TEST((allocs[1].flags & HUGESHIM_EVENT_FROM_CACHE) != 0u);
  BOOST_TEST(allocs[1].translations == 0u);  // nothing registered anew
}

BOOST_AUTO_TEST_SUITE_END()
