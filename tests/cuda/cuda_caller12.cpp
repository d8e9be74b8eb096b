// A library linked against the CUDA 12 double (libcudart.so.12), loaded next
// to the CUDA 13 one in cuda_app: its calls must reach the 12 runtime.
#include <cstddef>

#include "cudart_double.h"

// The shim finds a caller's runtime from the return address, which a tail
// call would hide (it would then see cuda_app's CUDA 13 linkage): every
// wrapper does work after its call, as real callers (error checks) do.
static volatile int g_last_rc;

extern "C" {
int cudaHostAlloc(void** ptr, size_t size, unsigned int flags);
int cudaFreeHost(void* ptr);
int cudaHostGetFlags(unsigned int* flags, void* ptr);
int cudaHostRegister(void* ptr, size_t size, unsigned int flags);
int cudaGetLastError(void);

int caller12_host_alloc(void** ptr, size_t size, unsigned flags) {
  g_last_rc = cudaHostAlloc(ptr, size, flags);
  return g_last_rc;
}
int caller12_free_host(void* ptr) {
  g_last_rc = cudaFreeHost(ptr);
  return g_last_rc;
}
int caller12_host_get_flags(unsigned* flags, void* ptr) {
  g_last_rc = cudaHostGetFlags(flags, ptr);
  return g_last_rc;
}
int caller12_host_register(void* ptr, size_t size, unsigned flags) {
  g_last_rc = cudaHostRegister(ptr, size, flags);
  return g_last_rc;
}
int caller12_get_last_error() {
  g_last_rc = cudaGetLastError();
  return g_last_rc;
}
void caller12_last_view(range_view* out) { cudart_double_last_view(out); }
size_t caller12_calls(cudart_double_call* out, size_t max) { return cudart_double_calls(out, max); }
int caller12_major() { return cudart_double_major(); }
}
