#include "cuda_pin.h"

namespace hugeshim {

cuda_error cuda_register_chunked(const CudaRuntime& rt, void* base, size_t length, size_t chunk,
                                 unsigned flags, uint32_t* registered) {
  *registered = 0;
  char* p = static_cast<char*>(base);
  const uint32_t pieces = chunk_count(length, chunk);
  for (uint32_t i = 0; i < pieces; ++i) {
    size_t offset = static_cast<size_t>(i) * chunk;
    size_t bytes = length - offset < chunk ? length - offset : chunk;
    cuda_error e = rt.host_register(p + offset, bytes, flags);
    if (e != kCudaSuccess) {
      rt.get_last_error();
      cuda_unregister_chunked(rt, base, chunk, i);
      return e;
    }
  }
  *registered = pieces;
  return kCudaSuccess;
}

cuda_error cuda_unregister_chunked(const CudaRuntime& rt, void* base, size_t chunk,
                                   uint32_t count) {
  char* p = static_cast<char*>(base);
  cuda_error first = kCudaSuccess;
  for (uint32_t i = 0; i < count; ++i) {
    cuda_error e = rt.host_unregister(p + static_cast<size_t>(i) * chunk);
    if (e != kCudaSuccess && first == kCudaSuccess) first = e;
  }
  if (first != kCudaSuccess) rt.get_last_error();
  return first;
}

}  // namespace hugeshim
