// The slice of the CUDA runtime ABI the shim speaks, declared here so the
// shim builds without a CUDA toolkit. Values are those of driver_types.h
// (CUDA 12 and 13 agree on every one used here).
#pragma once

#include <cstddef>
#include <cstdint>

namespace hugeshim {

using cuda_error = int;  // cudaError_t

constexpr cuda_error kCudaSuccess = 0;
constexpr cuda_error kCudaErrorInvalidValue = 1;
constexpr cuda_error kCudaErrorInitialization = 3;
// Every cudaHostRegister answers it in a Confidential Computing guest (H200
// CC-On) while cudaHostAlloc works; not sticky.
constexpr cuda_error kCudaErrorNotSupported = 801;

// cudaHostAlloc flags.
constexpr unsigned kHostAllocPortable = 0x1;
constexpr unsigned kHostAllocMapped = 0x2;
// cudaHostRegister flags: Portable and Mapped share the cudaHostAlloc bits;
// 0x4 means IoMemory here, not WriteCombined.
constexpr unsigned kHostRegisterPortable = 0x1;
constexpr unsigned kHostRegisterMapped = 0x2;

using CudaHostAllocFn = cuda_error (*)(void** ptr, size_t size, unsigned flags);
using CudaMallocHostFn = cuda_error (*)(void** ptr, size_t size);
using CudaFreeHostFn = cuda_error (*)(void* ptr);
using CudaHostRegisterFn = cuda_error (*)(void* ptr, size_t size, unsigned flags);
using CudaHostUnregisterFn = cuda_error (*)(void* ptr);
using CudaHostGetFlagsFn = cuda_error (*)(unsigned* flags, void* ptr);
using CudaLastErrorFn = cuda_error (*)();
using CudaGetDeviceFn = cuda_error (*)(int* device);
using CudaDeviceGetPciBusIdFn = cuda_error (*)(char* bus_id, int len, int device);

}  // namespace hugeshim
