#include "cuda_runtime.h"

#include <dlfcn.h>

#include <chrono>

namespace hugeshim_bench {
namespace {

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

CudaRuntime::CudaRuntime() {
  void* lib = nullptr;
  for (const char* name : {"libcudart.so", "libcudart.so.13", "libcudart.so.12"})
    if ((lib = dlopen(name, RTLD_NOW | RTLD_LOCAL))) break;
  if (!lib) {
    why_not_ = "no libcudart (libcudart.so, .13, .12) could be loaded";
    return;
  }
  auto count = reinterpret_cast<int (*)(int*)>(dlsym(lib, "cudaGetDeviceCount"));
  register_ = reinterpret_cast<Fn3>(dlsym(lib, "cudaHostRegister"));
  unregister_ = reinterpret_cast<Fn1>(dlsym(lib, "cudaHostUnregister"));
  host_alloc_ = reinterpret_cast<AllocFn>(dlsym(lib, "cudaHostAlloc"));
  free_host_ = reinterpret_cast<Fn1>(dlsym(lib, "cudaFreeHost"));
  if (!count || !register_ || !unregister_ || !host_alloc_ || !free_host_) {
    why_not_ = "libcudart lacks cudaGetDeviceCount/cudaHostRegister/cudaHostAlloc";
    return;
  }
  int devices = 0;
  int err = count(&devices);
  if (err != 0 || devices == 0) {
    why_not_ = err ? "cudaGetDeviceCount failed with error " + std::to_string(err) : "no CUDA device";
    return;
  }
  available_ = true;
}

double CudaRuntime::time_register(void* p, size_t len) const {
  auto t0 = std::chrono::steady_clock::now();
  if (register_(p, len, 0) != 0) return -1;
  double s = since(t0);
  unregister_(p);
  return s;
}

double CudaRuntime::time_host_alloc(size_t len) const {
  void* p = nullptr;
  auto t0 = std::chrono::steady_clock::now();
  if (host_alloc_(&p, len, 0) != 0) return -1;
  double s = since(t0);
  free_host_(p);
  return s;
}

}  // namespace hugeshim_bench
