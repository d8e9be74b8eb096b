// Recording wrappers for the CUDA driver's pinned-memory entry points
// (cuMemHostAlloc, cuMemAllocHost[_v2], cuMemHostRegister[_v2],
// cuMemHostUnregister, cuMemFreeHost) and for cuGetProcAddress[_v2], which
// hands them out. A program (or a library carrying a static cudart: NCCL,
// cuBLAS, nvcc's default -cudart static) reaches them with
// dlopen("libcuda.so.1") + dlsym(handle, "cuGetProcAddress_v2") +
// cuGetProcAddress(...): the shim's dlsym (entry/dlsym.cpp) and the
// cuGetProcAddress wrapper replace those pointers with wrappers here, which
// forward every call unchanged and record the large ones. Nothing is
// substituted on this path (docs/CUDA.md explains why).
//
// Invariants:
// - A wrapper forwards its argument registers as received and returns the
//   driver's answer: the program sees exactly what the driver does.
// - Each real entry point gets its own wrapper instance (a fixed table of
//   slots, claimed once, never released), so wrappers never confuse two
//   implementations of one API (cuGetProcAddress may hand out a different
//   function than dlsym for the same name, and a process may reload the
//   driver at another address). A full table hands out the real pointer.
// - Wrappers go only to code outside a shared libcudart: the runtime
//   interposer (entry/cuda_runtime.cpp) already records the runtime API, and the
//   shim's own calls into cudart must not record their driver calls again.
#pragma once

#include <cstdint>

namespace hugeshim {

// Turns wrapping on (HUGESHIM_DISABLE unset and cuda in HUGESHIM_INTERCEPT).
// Off until then: everything handed out before the shim's constructor is
// the real pointer.
void cuda_driver_enable(bool on);
bool cuda_driver_enabled();

// Whether `name` is one of the entry points dlsym may answer with a wrapper:
// cuGetProcAddress, cuGetProcAddress_v2, cuMemHostAlloc, cuMemAllocHost,
// cuMemAllocHost_v2, cuMemHostRegister, cuMemHostRegister_v2,
// cuMemHostUnregister, cuMemFreeHost.
bool cuda_driver_is_wrapped_name(const char* name);

// What dlsym(handle, name) / dlvsym should answer for `real`, the next
// dlsym's answer, when `requester` (the program's return address) asked:
// the wrapper when `name` is a wrapped name, `real` is libcuda's own
// definition (its object's soname starts with libcuda.so) and the requester
// is not a shared libcudart; else `real`. Preserves errno.
void* cuda_driver_lookup(const char* name, void* real, const void* requester);

}  // namespace hugeshim
