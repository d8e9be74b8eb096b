// The real CUDA runtime behind each interposed call. A process may hold
// several cudarts (a CUDA 12 and a CUDA 13 wheel side by side): every call is
// forwarded to the one its caller links against, found from the caller's
// return address, never by initialising CUDA or loading anything.
//
// Invariants:
// - A CudaRuntime, once published, lives (and stays loaded) for the rest of
//   the process: we hold a dlopen(RTLD_NOLOAD) reference to its library, so
//   the pointers cached in regions (Region::cuda_runtime) never dangle.
// - Every function pointer is the cudart's own definition, looked up in the
//   library itself (dlvsym/dlsym on its handle), so it can never be ours.
#pragma once

#include "cuda/runtime_abi.h"

namespace hugeshim {

struct CudaRuntime {
  uintptr_t load_base = 0;  // dl_iterate_phdr's dlpi_addr: identity of the library
  int major = 0;            // 12, 13, ...: from the soname
  char soname[32] = {};     // "libcudart.so.13"
  CudaHostAllocFn host_alloc = nullptr;
  CudaMallocHostFn malloc_host = nullptr;
  CudaFreeHostFn free_host = nullptr;
  CudaHostRegisterFn host_register = nullptr;
  CudaHostUnregisterFn host_unregister = nullptr;
  CudaHostGetFlagsFn host_get_flags = nullptr;
  CudaLastErrorFn get_last_error = nullptr;
  CudaLastErrorFn peek_at_last_error = nullptr;
  CudaGetDeviceFn get_device = nullptr;
  CudaDeviceGetPciBusIdFn device_get_pci_bus_id = nullptr;
};

// The cudart the code at `return_address` uses, or nullptr when no cudart is
// loaded (the caller then gets kCudaErrorInitialization). Chooses, in order:
// the loaded cudart named by the caller's DT_NEEDED entries; else the first
// cudart in load order (what an unversioned global lookup would bind).
const CudaRuntime* cuda_runtime_for(const void* return_address);

}  // namespace hugeshim
