// The test double of the CUDA driver (libcuda_double.so, soname
// libcuda.so.1): its answers, shared by the programs that drive it.
#pragma once

#include <cstdint>

namespace libcuda_double {

// CUresult values the double answers with (those of cuda.h).
constexpr int kSuccess = 0;
constexpr int kInvalidValue = 1;
constexpr int kOutOfMemory = 2;
constexpr int kNotInitialized = 3;
constexpr int kNotFound = 500;
constexpr int kHostMemoryAlreadyRegistered = 712;
constexpr int kHostMemoryNotRegistered = 713;

// cuMemHostAlloc flags the double accepts (Portable, DeviceMap, WriteCombined).
constexpr unsigned kHostAllocFlags = 0x7;

}  // namespace libcuda_double

// Exported by the double beside the driver API (names outside the "cu"
// prefix, so lookups of them never meet the shim's driver path): the size
// argument of the last allocation or registration call, as the double
// received it.
extern "C" uint64_t libcuda_double_last_size();

// What the last registration found on arrival (range_view.h): resident
// pages, Rss, Anonymous and huge-page kB of the range, before pinning.
struct range_view;
extern "C" void libcuda_double_last_view(range_view* out);
