// Substitution: a pinned allocation (cudaHostAlloc, cudaMallocHost) served
// from a huge page region that the shim registers with the program's own
// cudart, and everything that must keep treating that memory as the
// cudaHostAlloc memory the program asked for (free, flags, register,
// unregister).
//
// Contract: never worse than without the shim. A request larger than one
// registration may be (HUGESHIM_REGISTER_MAX) is not taken; any failure on
// the way (pending CUDA error, no device, no region, a failed registration)
// undoes what was done. Both call the real allocation function, whose result
// and side effects the program then sees unchanged.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda/runtime_lookup.h"

namespace hugeshim {

// cudaHostAlloc (api HUGESHIM_API_CUDA_HOST_ALLOC) or cudaMallocHost
// (HUGESHIM_API_CUDA_MALLOC_HOST, flags 0): substitutes when eligible, else
// forwards to the matching real function. Records large requests.
cuda_error cuda_pinned_alloc(const CudaRuntime& rt, void** ptr, size_t size, unsigned flags,
                             uint32_t api, const void* caller);

// cudaFreeHost: releases substituted memory (the region cache may keep it,
// still registered), forwards everything else.
cuda_error cuda_pinned_free(const CudaRuntime& rt, void* ptr, const void* caller);

// If p lies in substituted memory, what native cudaHostGetFlags answers for
// cudaHostAlloc memory: the flags the program asked for, plus Mapped.
bool cuda_substituted_flags(const void* p, unsigned* flags);

// Whether p lies in substituted memory. The program must not see our
// registration: cudaHostRegister and cudaHostUnregister of it answer as on
// cudaHostAlloc memory, without reaching the runtime.
bool cuda_is_substituted(const void* p);

}  // namespace hugeshim
