// The CUDA runtime, when the host has one and a GPU: loaded with dlopen so
// the bench runs (and builds) without CUDA. Only the calls it times.
#pragma once

#include <cstddef>
#include <string>

namespace hugeshim_bench {

class CudaRuntime {
 public:
  // Loads libcudart and counts devices; available() says whether it worked,
  // why_not() why not.
  CudaRuntime();
  bool available() const { return available_; }
  const std::string& why_not() const { return why_not_; }

  // Seconds of cudaHostRegister(p, len, 0), then unregisters; -1 on error.
  double time_register(void* p, size_t len) const;
  // Seconds of cudaHostAlloc(len, 0), then frees; -1 on error.
  double time_host_alloc(size_t len) const;

 private:
  using Fn3 = int (*)(void*, size_t, unsigned);
  using Fn1 = int (*)(void*);
  using AllocFn = int (*)(void**, size_t, unsigned);
  bool available_ = false;
  std::string why_not_;
  Fn3 register_ = nullptr;
  Fn1 unregister_ = nullptr;
  AllocFn host_alloc_ = nullptr;
  Fn1 free_host_ = nullptr;
};

}  // namespace hugeshim_bench
