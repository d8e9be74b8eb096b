// The slice of the CUDA driver ABI the shim wraps, declared here so the shim
// builds without a CUDA toolkit. Signatures as in cuda.h (CUDA 12 and 13).
#pragma once

#include <cstddef>
#include <cstdint>

namespace hugeshim {

using cu_result = int;  // CUresult
constexpr cu_result kCuSuccess = 0;

// cuGetProcAddress (CUDA 11.3-12.x ABI symbol: 4 arguments) and
// cuGetProcAddress_v2 (CUDA 12.0+: a 5th, CUdriverProcAddressQueryResult*).
// The wrapper takes the 5-argument form for both and forwards all five
// registers: a v1 implementation ignores the fifth, exactly as it would
// natively, and a v1 caller's fifth register reaches a v2 implementation
// exactly as it would natively.
using CuGetProcAddressFn = cu_result (*)(const char* symbol, void** pfn, int cuda_version,
                                         uint64_t flags, void* symbol_status);
using CuMemHostAllocFn = cu_result (*)(void** pp, size_t bytes, unsigned flags);
// cuMemAllocHost (before CUDA 3.2) took a 32-bit size; cuMemAllocHost_v2
// (what cuda.h's cuMemAllocHost means since) takes size_t.
using CuMemAllocHostV1Fn = cu_result (*)(void** pp, unsigned bytes);
using CuMemAllocHostFn = cu_result (*)(void** pp, size_t bytes);
// cuMemHostRegister and _v2 (CUDA 6.5) share one signature.
using CuMemHostRegisterFn = cu_result (*)(void* p, size_t bytes, unsigned flags);
using CuMemHostUnregisterFn = cu_result (*)(void* p);
using CuMemFreeHostFn = cu_result (*)(void* p);

// cudaVersion from which cuGetProcAddress answers "cuMemAllocHost" with
// cuMemAllocHost_v2 (its size_t form).
constexpr int kCuMemAllocHostV2Since = 3020;

}  // namespace hugeshim
