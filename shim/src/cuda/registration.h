// Registration of a substituted region: exactly one cudaHostRegister over the
// whole of [base, base + length), undone by exactly one cudaHostUnregister.
//
// Why one call: a copy (cudaMemcpyAsync, torch's copy_) whose source or
// destination spans two separate registrations fails with
// cudaErrorInvalidValue, so a region registered in pieces is not the single
// pinned allocation the program asked for (measured on an H200, driver
// 580.159.04: docs/CUDA.md, "Registration"). Requests too large for one
// registration (HUGESHIM_REGISTER_MAX) are never substituted.
#pragma once

#include <cstddef>

#include "cuda/runtime_lookup.h"

namespace hugeshim {

// Registers [base, base + length) with `flags` in one call. On failure clears
// the runtime's sticky error (cudaGetLastError), so the caller's fallback and
// the program's later calls start clean, and returns the call's error.
cuda_error cuda_register_region(const CudaRuntime& rt, void* base, size_t length,
                                unsigned flags);

// Unregisters the registration starting at base. On failure (e.g. at exit,
// when the context is already gone) clears the sticky error and returns it.
cuda_error cuda_unregister_region(const CudaRuntime& rt, void* base);

}  // namespace hugeshim
