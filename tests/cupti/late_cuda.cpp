// Linked against the real libcudart.so.13 and dlopened by cupti_late_app
// after it started: cudart arrives after the shim's start-up path.
extern "C" int cudaHostAlloc(void** ptr, unsigned long size, unsigned int flags);

extern "C" int late_host_alloc(unsigned long size) {
  void* p = nullptr;
  return cudaHostAlloc(&p, size, 0);
}
