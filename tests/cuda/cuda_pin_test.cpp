// Chunked registration (shim/src/cuda_pin.cpp) against an in-process runtime
// double: a CudaRuntime whose entry points record their calls.
#define BOOST_TEST_MODULE cuda_pin
#include <boost/test/unit_test.hpp>

#include <vector>

#include "cuda_pin.h"

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
int g_fail_at = -1;  // register call index that fails
int g_registers = 0;
cuda_error g_sticky = kCudaSuccess;

cuda_error double_register(void* p, size_t size, unsigned flags) {
  g_calls.push_back({'r', reinterpret_cast<uintptr_t>(p), size, flags});
  if (g_registers++ == g_fail_at) {
    g_sticky = 2;
    return 2;
  }
  return kCudaSuccess;
}

cuda_error double_unregister(void* p) {
  g_calls.push_back({'u', reinterpret_cast<uintptr_t>(p), 0, 0});
  return kCudaSuccess;
}

cuda_error double_last_error() {
  g_calls.push_back({'e', 0, 0, 0});
  cuda_error e = g_sticky;
  g_sticky = kCudaSuccess;
  return e;
}

CudaRuntime runtime_double() {
  g_calls.clear();
  g_fail_at = -1;
  g_registers = 0;
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

BOOST_AUTO_TEST_CASE(chunk_count_rounds_up) {
  BOOST_TEST(chunk_count(0, 4 * kMiB) == 0u);
  BOOST_TEST(chunk_count(1, 4 * kMiB) == 1u);
  BOOST_TEST(chunk_count(4 * kMiB, 4 * kMiB) == 1u);
  BOOST_TEST(chunk_count(4 * kMiB + 4096, 4 * kMiB) == 2u);
  BOOST_TEST(chunk_count(size_t{512} << 30, size_t{1} << 30) == 512u);
}

BOOST_AUTO_TEST_CASE(registers_each_piece_with_the_flags_and_a_short_tail) {
  CudaRuntime rt = runtime_double();
  uint32_t done = 0;
  cuda_error e = cuda_register_chunked(rt, kBase, 10 * kMiB, 4 * kMiB, 3, &done);
  BOOST_TEST(e == kCudaSuccess);
  BOOST_TEST(done == 3u);
  BOOST_REQUIRE(g_calls.size() == 3u);
  size_t sizes[] = {4 * kMiB, 4 * kMiB, 2 * kMiB};
  for (int i = 0; i < 3; ++i) {
    BOOST_TEST(g_calls[i].op == 'r');
    BOOST_TEST(g_calls[i].ptr == reinterpret_cast<uintptr_t>(kBase + i * 4 * kMiB));
    BOOST_TEST(g_calls[i].size == sizes[i]);
    BOOST_TEST(g_calls[i].flags == 3u);
  }
}

BOOST_AUTO_TEST_CASE(failed_piece_undoes_the_done_pieces_and_clears_the_sticky_error) {
  CudaRuntime rt = runtime_double();
  g_fail_at = 2;
  uint32_t done = 99;
  cuda_error e = cuda_register_chunked(rt, kBase, 16 * kMiB, 4 * kMiB, 0, &done);
  BOOST_TEST(e == 2);
  BOOST_TEST(done == 0u);
  // r r r(fails) e u u: the error is cleared, both done pieces unregistered.
  BOOST_REQUIRE(g_calls.size() == 6u);
  BOOST_TEST(g_calls[2].op == 'r');
  BOOST_TEST(g_calls[3].op == 'e');
  BOOST_TEST(g_calls[4].op == 'u');
  BOOST_TEST(g_calls[4].ptr == reinterpret_cast<uintptr_t>(kBase));
  BOOST_TEST(g_calls[5].op == 'u');
  BOOST_TEST(g_calls[5].ptr == reinterpret_cast<uintptr_t>(kBase + 4 * kMiB));
  BOOST_TEST(g_sticky == kCudaSuccess);
}

BOOST_AUTO_TEST_CASE(first_piece_failing_unregisters_nothing) {
  CudaRuntime rt = runtime_double();
  g_fail_at = 0;
  uint32_t done = 0;
  BOOST_TEST(cuda_register_chunked(rt, kBase, 8 * kMiB, 4 * kMiB, 0, &done) == 2);
  BOOST_REQUIRE(g_calls.size() == 2u);
  BOOST_TEST(g_calls[1].op == 'e');
}

BOOST_AUTO_TEST_CASE(unregister_visits_every_piece_start) {
  CudaRuntime rt = runtime_double();
  BOOST_TEST(cuda_unregister_chunked(rt, kBase, 4 * kMiB, 3) == kCudaSuccess);
  BOOST_REQUIRE(g_calls.size() == 3u);
  for (int i = 0; i < 3; ++i) {
    BOOST_TEST(g_calls[i].op == 'u');
    BOOST_TEST(g_calls[i].ptr == reinterpret_cast<uintptr_t>(kBase + i * 4 * kMiB));
  }
}
