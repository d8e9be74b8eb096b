// Registration of a substituted region (shim/src/cuda/registration.cpp) against an
// in-process runtime double: a CudaRuntime whose entry points record their
// calls. One cudaHostRegister over the whole region, one cudaHostUnregister,
// and the sticky error of a failed call cleared.
#define BOOST_TEST_MODULE cuda_registration
#include <boost/test/unit_test.hpp>

#include <vector>

#include "cuda/registration.h"

using namespace hugeshim;

namespace {

struct Call {
  char op;  // 'r' register, 'u' unregister, 'e' get_last_error
  uintptr_t ptr;
  size_t size;
  unsigned flags;
};

// The runtime double's state (its entry points are plain functions).
std::vector<Call> g_calls;
cuda_error g_fail_with = kCudaSuccess;  // what register/unregister return
cuda_error g_sticky = kCudaSuccess;

cuda_error double_register(void* p, size_t size, unsigned flags) {
  g_calls.push_back({'r', reinterpret_cast<uintptr_t>(p), size, flags});
  if (g_fail_with != kCudaSuccess) g_sticky = g_fail_with;
  return g_fail_with;
}

cuda_error double_unregister(void* p) {
  g_calls.push_back({'u', reinterpret_cast<uintptr_t>(p), 0, 0});
  if (g_fail_with != kCudaSuccess) g_sticky = g_fail_with;
  return g_fail_with;
}

cuda_error double_last_error() {
  g_calls.push_back({'e', 0, 0, 0});
  cuda_error e = g_sticky;
  g_sticky = kCudaSuccess;
  return e;
}

CudaRuntime runtime_double(cuda_error fail_with = kCudaSuccess) {
  g_calls.clear();
  g_fail_with = fail_with;
  g_sticky = kCudaSuccess;
  CudaRuntime rt;
  rt.host_register = double_register;
  rt.host_unregister = double_unregister;
  rt.get_last_error = double_last_error;
  return rt;
}

constexpr size_t kMiB = 1 << 20;
char* const kBase = reinterpret_cast<char*>(uintptr_t{1} << 40);

}  // namespace

BOOST_AUTO_TEST_CASE(one_call_covers_the_whole_region_with_the_flags) {
  CudaRuntime rt = runtime_double();
  // Larger than the old 1 GiB pieces: still one call (no memory is touched).
  const size_t length = (size_t{3} << 30) + 6 * kMiB;
  BOOST_TEST(cuda_register_region(rt, kBase, length, 3) == kCudaSuccess);
  BOOST_REQUIRE(g_calls.size() == 1u);
  BOOST_TEST(g_calls[0].op == 'r');
  BOOST_TEST(g_calls[0].ptr == reinterpret_cast<uintptr_t>(kBase));
  BOOST_TEST(g_calls[0].size == length);
  BOOST_TEST(g_calls[0].flags == 3u);
}

BOOST_AUTO_TEST_CASE(failed_registration_clears_the_sticky_error_and_undoes_nothing) {
  CudaRuntime rt = runtime_double(2);
  BOOST_TEST(cuda_register_region(rt, kBase, 16 * kMiB, 0) == 2);
  // r e: nothing was registered, so nothing is unregistered.
  BOOST_REQUIRE(g_calls.size() == 2u);
  BOOST_TEST(g_calls[0].op == 'r');
  BOOST_TEST(g_calls[1].op == 'e');
  BOOST_TEST(g_sticky == kCudaSuccess);
}

BOOST_AUTO_TEST_CASE(unregistration_is_one_call_at_the_base) {
  CudaRuntime rt = runtime_double();
  BOOST_TEST(cuda_unregister_region(rt, kBase) == kCudaSuccess);
  BOOST_REQUIRE(g_calls.size() == 1u);
  BOOST_TEST(g_calls[0].op == 'u');
  BOOST_TEST(g_calls[0].ptr == reinterpret_cast<uintptr_t>(kBase));
}

BOOST_AUTO_TEST_CASE(failed_unregistration_reports_and_clears_the_error) {
  CudaRuntime rt = runtime_double(4);  // e.g. the context is gone at exit
  BOOST_TEST(cuda_unregister_region(rt, kBase) == 4);
  BOOST_REQUIRE(g_calls.size() == 2u);
  BOOST_TEST(g_calls[1].op == 'e');
  BOOST_TEST(g_sticky == kCudaSuccess);
}

BOOST_AUTO_TEST_CASE(success_leaves_the_error_state_alone) {
  // A pending error that is not ours must not be consumed by a good call.
  CudaRuntime rt = runtime_double();
  g_sticky = 700;
  BOOST_TEST(cuda_register_region(rt, kBase, 2 * kMiB, 0) == kCudaSuccess);
  BOOST_TEST(cuda_unregister_region(rt, kBase) == kCudaSuccess);
  BOOST_TEST(g_calls.size() == 2u);
  BOOST_TEST(g_sticky == 700);
}
