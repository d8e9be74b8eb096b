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

BOOST_AUTO_TEST_CASE(substitution_registers_once_and_records_phases) {
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
  BOOST_TEST(r.lines[2] == "rc=0 flags=2");  // Mapped, as natively under unified addressing
  BOOST_TEST(r.lines[3] == "rc=0 same=1");
  BOOST_TEST(r.lines[5] == "bad=0");

  // One registration covering [p, p + mapped): a copy spanning two separate
  // registrations fails on real GPUs, so the region is never split.
  auto calls = parse_calls(r.lines[6]);
  BOOST_TEST(only(calls, CUDART_DOUBLE_HOST_ALLOC).empty());
  auto regs = only(calls, CUDART_DOUBLE_HOST_REGISTER);
  BOOST_REQUIRE_EQUAL(regs.size(), 1u);
  BOOST_TEST(regs[0].ptr == p);
  BOOST_TEST(regs[0].size == 20 * kMiB);
  BOOST_TEST(regs[0].flags == 3u);  // Portable|Mapped, as native memory is under UVA
  BOOST_TEST(regs[0].result == 0);
  BOOST_TEST(field(r.lines[7], "rc") == "0");
  auto after_free = parse_calls(r.lines[8]);
  auto unregs = only(after_free, CUDART_DOUBLE_HOST_UNREGISTER);
  BOOST_REQUIRE_EQUAL(unregs.size(), 1u);
  BOOST_TEST(unregs[0].ptr == p);
  BOOST_TEST(unregs[0].result == 0);
  BOOST_TEST(only(after_free, CUDART_DOUBLE_HOST_REGISTER).size() == 1u);  // nothing more
  BOOST_TEST(only(after_free, CUDART_DOUBLE_FREE_HOST).empty());

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
  // The flags asked for, plus Mapped (native cudaHostGetFlags under UVA).
  BOOST_TEST(r.lines[1] == "rc=0 flags=3");
  BOOST_TEST(r.lines[4] == "rc=0 flags=2");
  BOOST_TEST(r.lines[5] == "rc=0 same=1");
  BOOST_TEST(r.lines[8] == "rc=0 flags=3");
  BOOST_TEST(r.lines[11] == "rc=0 flags=2");
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
  BOOST_TEST(r.lines[2] == "rc=0 flags=6");  // the double's own answer (WriteCombined|Mapped)
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
                     "hpfree\nfail_register 1 2\nalloc 20971520 0\npagekb\nlasterror\nhpfree\ncalls\nfree\n",
                     cuda_env());
  BOOST_REQUIRE_EQUAL(r.status, 0);
  BOOST_REQUIRE_EQUAL(r.lines.size(), 8u);
  BOOST_TEST(field(r.lines[2], "rc") == "0");
  BOOST_TEST(r.lines[3] == "kb=4");         // native memory
  BOOST_TEST(r.lines[4] == "rc=0");         // no sticky error left for the program
  BOOST_TEST(r.lines[5] == r.lines[0]);     // region's pages back in the pool
  auto calls = parse_calls(r.lines[6]);
  auto regs = only(calls, CUDART_DOUBLE_HOST_REGISTER);
  BOOST_REQUIRE_EQUAL(regs.size(), 1u);
  BOOST_TEST(regs[0].result == 2);
  BOOST_TEST(regs[0].size == 20 * kMiB);
  BOOST_TEST(only(calls, CUDART_DOUBLE_HOST_UNREGISTER).empty());  // nothing was registered
  BOOST_TEST(only(calls, CUDART_DOUBLE_HOST_ALLOC).size() == 1u);
  // Order: failed register, error cleared, then the real allocation.
  auto pos = [&](int op) {
    return std::find_if(calls.begin(), calls.end(), [&](const DoubleCall& c) { return c.op == op; }) - calls.begin();
  };
  BOOST_TEST(pos(CUDART_DOUBLE_HOST_REGISTER) < pos(CUDART_DOUBLE_GET_LAST_ERROR));
  BOOST_TEST(pos(CUDART_DOUBLE_GET_LAST_ERROR) < pos(CUDART_DOUBLE_HOST_ALLOC));

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
  BOOST_TEST(r.lines[1] == "rc=0 flags=3");
  auto regs12 = only(parse_calls(r.lines[2]), CUDART_DOUBLE_HOST_REGISTER);
  BOOST_REQUIRE_EQUAL(regs12.size(), 1u);
  BOOST_TEST(regs12[0].ptr == p12);
  BOOST_TEST(regs12[0].size == 20 * kMiB);
  BOOST_TEST(parse_calls(r.lines[3]).empty());  // the 13 runtime saw nothing
  BOOST_TEST(only(parse_calls(r.lines[5]), CUDART_DOUBLE_HOST_UNREGISTER).size() == 1u);
  BOOST_TEST(only(parse_calls(r.lines[7]), CUDART_DOUBLE_HOST_REGISTER).size() == 1u);
  BOOST_TEST(only(parse_calls(r.lines[8]), CUDART_DOUBLE_HOST_REGISTER).size() == 1u);  // unchanged
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
                     // Without preparation, so that the registration faults the
                     // pages itself (cuda_prepare_test covers preparation).
                     cuda_env({{"HUGESHIM_PREPARE", "off"}}));
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
  // At the base and inside: cudaHostUnregister and cudaHostRegister answer 1
  // (cudaErrorInvalidValue), as native cudaHostAlloc memory does, without
  // reaching the runtime's register/unregister (which would answer 712, or
  // drop our registration); the runtime's last error is left at 1 as natively.
  // Large and small registrations take the same answer; the large one is
  // recorded as a failure.
  AppRun r = run_app(kApp,
                     "alloc 16777216 0\nunregister\nregister 2097152 0\nadvance 4194304\n"
                     "unregister\nregister 8388608 1\nadvance -4194304\ncalls\nfree\n",
                     cuda_env());
  BOOST_REQUIRE_EQUAL(r.status, 0);
  BOOST_REQUIRE_EQUAL(r.lines.size(), 9u);
  BOOST_TEST(r.lines[1] == "rc=1");
  BOOST_TEST(r.lines[2] == "rc=1");
  BOOST_TEST(r.lines[4] == "rc=1");
  BOOST_TEST(r.lines[5] == "rc=1");
  auto calls = parse_calls(r.lines[7]);
  BOOST_TEST(only(calls, CUDART_DOUBLE_HOST_UNREGISTER).empty());
  BOOST_TEST(only(calls, CUDART_DOUBLE_HOST_REGISTER).size() == 1u);  // ours only
  BOOST_TEST(r.lines[8] == "rc=0");
  auto regs = of_api(r, HUGESHIM_API_CUDA_HOST_REGISTER);
  BOOST_REQUIRE_EQUAL(regs.size(), 1u);
  BOOST_TEST((regs[0].flags & HUGESHIM_EVENT_FAILED) != 0u);
  BOOST_TEST(regs[0].result == 1);
  BOOST_TEST(regs[0].requested == 8 * kMiB);
  BOOST_TEST(of_api(r, HUGESHIM_API_CUDA_HOST_UNREGISTER).empty());
}

BOOST_AUTO_TEST_CASE(substituted_memory_answers_as_native_memory_does) {
  // The same program against the double without and with the shim (the
  // double answers as the measured native runtime): identical answers for
  // flags, device pointer, register/unregister at the base and inside, data.
  const std::string script =
      "alloc 20971520 0\nflags\ndevptr\nregister 2097152 0\nunregister\n"
      "advance 6291456\nflags\ndevptr\nregister 2097152 0\nlasterror\nunregister\nlasterror\n"
      "advance -6291456\n"
      "write 20971520\ncheck 20971520\nfree\n";
  AppRun native = run_app(kApp, script, cuda_env(), false);
  AppRun shim = run_app(kApp, script, cuda_env(), true);
  BOOST_TEST_INFO("shim stderr: " << shim.err);
  BOOST_REQUIRE_EQUAL(native.status, 0);
  BOOST_REQUIRE_EQUAL(shim.status, 0);
  BOOST_REQUIRE_EQUAL(native.lines.size(), 16u);
  BOOST_REQUIRE_EQUAL(shim.lines.size(), native.lines.size());
  BOOST_TEST(field(native.lines[0], "rc") == field(shim.lines[0], "rc"));
  for (size_t i = 1; i < native.lines.size(); ++i) {
    if (native.lines[i].rfind("ptr=", 0) == 0) continue;  // addresses differ
    BOOST_TEST(native.lines[i] == shim.lines[i], "line " << i);
  }
  BOOST_TEST(native.lines[1] == "rc=0 flags=2");  // proof the double answers as native
  BOOST_TEST(native.lines[3] == "rc=1");
  BOOST_TEST(native.lines[4] == "rc=1");
  BOOST_TEST(native.lines[9] == "rc=1");   // last error after register inside the allocation
  BOOST_TEST(native.lines[11] == "rc=1");  // and after unregister inside it
  BOOST_TEST(of_api(shim, HUGESHIM_API_CUDA_HOST_ALLOC).size() == 1u);
  BOOST_TEST((of_api(shim, HUGESHIM_API_CUDA_HOST_ALLOC)[0].flags & HUGESHIM_EVENT_REDIRECTED) != 0u);
}

BOOST_AUTO_TEST_CASE(requests_above_one_registration_are_pinned_natively) {
  // HUGESHIM_REGISTER_MAX = 8 MiB: an 8 MiB request is substituted (one
  // registration); 8 MiB + 1 byte (2 MiB-rounded: 10 MiB) and 16 MiB are
  // forwarded with fallback register_limit.
  AppRun r = run_app(kApp,
                     "alloc 8388608 0\nfree\nalloc 8388609 0\nfree\n"
                     "alloc 16777216 0\npagekb\nflags\nwrite 16777216\ncheck 16777216\ncalls\nfree\ncalls\n",
                     cuda_env({{"HUGESHIM_REGISTER_MAX", "8M"}}));
  BOOST_TEST_INFO("stderr: " << r.err);
  BOOST_REQUIRE_EQUAL(r.status, 0);
  BOOST_REQUIRE_EQUAL(r.lines.size(), 12u);
  uint64_t p = hex(field(r.lines[4], "ptr"));
  BOOST_TEST(field(r.lines[4], "rc") == "0");
  BOOST_TEST(r.lines[5] == "kb=4");  // the runtime's own memory
  BOOST_TEST(r.lines[6] == "rc=0 flags=2");
  BOOST_TEST(r.lines[8] == "bad=0");
  auto calls = parse_calls(r.lines[9]);
  auto regs = only(calls, CUDART_DOUBLE_HOST_REGISTER);
  BOOST_REQUIRE_EQUAL(regs.size(), 1u);  // the 8 MiB one only
  BOOST_TEST(regs[0].size == 8 * kMiB);
  auto allocs = only(calls, CUDART_DOUBLE_HOST_ALLOC);
  BOOST_REQUIRE_EQUAL(allocs.size(), 2u);
  BOOST_TEST(allocs[0].size == 8 * kMiB + 1);
  BOOST_TEST(allocs[1].size == 16 * kMiB);
  BOOST_TEST(allocs[1].ptr == p);
  BOOST_TEST(r.lines[10] == "rc=0");
  auto frees = only(parse_calls(r.lines[11]), CUDART_DOUBLE_FREE_HOST);
  BOOST_REQUIRE_EQUAL(frees.size(), 2u);
  BOOST_TEST(frees[1].ptr == p);
  BOOST_TEST(frees[1].result == 0);

  auto rec = of_api(r, HUGESHIM_API_CUDA_HOST_ALLOC);
  BOOST_REQUIRE_EQUAL(rec.size(), 3u);
  BOOST_TEST((rec[0].flags & HUGESHIM_EVENT_REDIRECTED) != 0u);
  BOOST_TEST(rec[0].fallback == HUGESHIM_FALLBACK_NONE);
  for (int i = 1; i < 3; ++i) {
    BOOST_TEST((rec[i].flags & HUGESHIM_EVENT_REDIRECTED) == 0u);
    BOOST_TEST((rec[i].flags & HUGESHIM_EVENT_FAILED) == 0u);  // the program got memory
    BOOST_TEST(rec[i].fallback == HUGESHIM_FALLBACK_REGISTER_LIMIT);
    BOOST_TEST(rec[i].result == 0);
  }
  BOOST_TEST(rec[2].address == p);
  BOOST_TEST(rec[2].requested == 16 * kMiB);
  BOOST_TEST(rec[2].page_bytes[HUGESHIM_PAGE_BASE] == 16 * kMiB);
  auto free_rec = of_api(r, HUGESHIM_API_CUDA_FREE_HOST);
  BOOST_REQUIRE_EQUAL(free_rec.size(), 3u);
  BOOST_TEST(free_rec[2].requested == 16 * kMiB);  // the ledger knew the native allocation
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
