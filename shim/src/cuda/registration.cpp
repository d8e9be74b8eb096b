#include "cuda/registration.h"

namespace hugeshim {

cuda_error cuda_register_region(const CudaRuntime& rt, void* base, size_t length,
                                unsigned flags) {
  cuda_error e = rt.host_register(base, length, flags);
  if (e != kCudaSuccess) rt.get_last_error();
  return e;
}

cuda_error cuda_unregister_region(const CudaRuntime& rt, void* base) {
  cuda_error e = rt.host_unregister(base);
  if (e != kCudaSuccess) rt.get_last_error();
  return e;
}

}  // namespace hugeshim
