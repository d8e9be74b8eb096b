// Chunked registration: a substituted region is registered with
// cudaHostRegister in pieces of at most HUGESHIM_REGISTER_CHUNK bytes, so no
// single call holds the driver's lock for long, and unregistered piece by
// piece. Piece i starts at base + i * chunk; the last one may be shorter.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda_runtime.h"

namespace hugeshim {

// Number of pieces for `length` bytes (0 for 0 bytes).
inline uint32_t chunk_count(size_t length, size_t chunk) {
  return static_cast<uint32_t>((length + chunk - 1) / chunk);
}

// Registers [base, base + length) piece by piece with `flags`. On success
// returns kCudaSuccess and *registered = chunk_count(). On a failed piece it
// unregisters the pieces already done, clears the runtime's sticky error
// (cudaGetLastError) so the caller's fallback and later calls start clean,
// and returns the piece's error with *registered = 0.
cuda_error cuda_register_chunked(const CudaRuntime& rt, void* base, size_t length, size_t chunk,
                                 unsigned flags, uint32_t* registered);

// Unregisters the first `count` pieces. Returns the first error met (all
// pieces are attempted regardless); clears the sticky error after a failure.
cuda_error cuda_unregister_chunked(const CudaRuntime& rt, void* base, size_t chunk,
                                   uint32_t count);

}  // namespace hugeshim
