// The shim in front of the real libcudart.so.13 on a machine without a GPU
// driver: every interposed call must return exactly what it returns without
// the shim, leave the program's outputs alone, take no memory, and record
// nothing as a success.
#define BOOST_TEST_MODULE cuda_real_cudart
#include <boost/test/unit_test.hpp>

#include "cuda_run.h"
#include "hugeshim/events.h"

using namespace cuda_test;

namespace {

// Every interposed entry point, above and below the threshold, with
// WriteCombined, on native and foreign memory, and the error state after.
constexpr const char* kScript =
    "hpfree\n"
    "alloc 20971520 0\nalloc 20971520 2\nalloc 20971520 4\nalloc 1048576 0\nmallochost 20971520\n"
    "flags\ndevptr\nfree\nlasterror\nhpfree\n"
    "mmap 33554432\nregister 33554432 0\nregister 1048576 2\nunregister\nflags\nfree\nlasterror\n"
    "hpfree\n";

bool has_real_cudart() {
  return !hugeshim_test::read_file("/usr/local/cuda/lib64/libcudart.so.13").empty();
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_call_answers_as_without_the_shim) {
  if (!has_real_cudart()) {
    BOOST_TEST_MESSAGE("no /usr/local/cuda/lib64/libcudart.so.13: skipped");
    return;
  }
  hugeshim_test::HugePool pool(hugeshim_test::meminfo("HugePages_Total") + 32);
  AppRun native = run_app("cuda_app_real", kScript, cuda_env(), false);
  AppRun shim = run_app("cuda_app_real", kScript, cuda_env(), true);
  BOOST_TEST_INFO("shim stderr: " << shim.err);
  BOOST_REQUIRE_EQUAL(native.status, 0);
  BOOST_REQUIRE_EQUAL(shim.status, 0);
  BOOST_REQUIRE_EQUAL(native.lines.size(), shim.lines.size());
  for (size_t i = 0; i < native.lines.size(); ++i) {
    if (native.lines[i].rfind("ptr=", 0) == 0) continue;  // mmap addresses differ run to run
    BOOST_TEST(native.lines[i] == shim.lines[i], "line " << i);
  }
  // Without a driver the runtime fails every call; the first line is the
  // proof the test ran the case it means to.
  BOOST_TEST(shim.lines[1] == "rc=35 ptr=0x1234");
  BOOST_TEST(shim.lines[0] == shim.lines.back());  // no huge page kept

  BOOST_TEST(native.records.empty());
  size_t cuda_records = 0;
  for (const auto& r : shim.records) {
    if (r.api < HUGESHIM_API_CUDA_HOST_ALLOC || r.api > HUGESHIM_API_CU_MEM_HOST_UNREGISTER) continue;
    ++cuda_records;
    BOOST_TEST((r.flags & HUGESHIM_EVENT_FAILED) != 0u, "api " << r.api);
    BOOST_TEST((r.flags & HUGESHIM_EVENT_REDIRECTED) == 0u, "api " << r.api);
    BOOST_TEST(r.result == 35, "api " << r.api);
    BOOST_TEST(r.mapped == 0u);
  }
  // Three cudaHostAlloc, one cudaMallocHost and one cudaHostRegister were
  // large enough to record; the failed frees and unregistration of unknown
  // memory are counted as small calls.
  BOOST_TEST(cuda_records == 5u);
}
