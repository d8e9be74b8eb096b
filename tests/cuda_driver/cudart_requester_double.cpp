// A test double of a shared libcudart (built with soname libcudart.so.77):
// the shim must hand a shared runtime the driver's own entry points, since
// the runtime API it serves is recorded by the runtime interposer already.
#include <dlfcn.h>

#include <cstdint>
#include <cstring>

namespace {

bool in_driver(void* f) {
  Dl_info info;
  return f && dladdr(f, &info) && strstr(info.dli_fname, "libcuda_double.so") != nullptr;
}

}  // namespace

// How many of the entry points this runtime obtained (by dlsym and through
// cuGetProcAddress) are not the driver's own; -1 if the driver is missing.
extern "C" __attribute__((visibility("default"))) int cudart_requester_double_wrapped(
    const char* libcuda_path) {
  void* driver = dlopen(libcuda_path, RTLD_NOW | RTLD_LOCAL);
  if (!driver) return -1;
  using GetProcFn = int (*)(const char*, void**, int, uint64_t, int*);
  void* gpa = dlsym(driver, "cuGetProcAddress_v2");
  void* host_alloc = dlsym(driver, "cuMemHostAlloc");
  void* via_gpa = nullptr;
  int status = 0;
  if (!gpa || reinterpret_cast<GetProcFn>(gpa)("cuMemHostAlloc", &via_gpa, 12000, 0, &status) != 0)
    return -1;
  return !in_driver(gpa) + !in_driver(host_alloc) + !in_driver(via_gpa);
}
