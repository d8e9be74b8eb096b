// Prints what a series of dlsym/dlvsym/dlerror calls answer, in a form that
// is equal between runs; dlsym_semantics_test compares it with and without
// the shim (and with a second interposer preloaded before or after it).
#include "dlsym_probe.h"

#include <cerrno>
#include <string>

namespace {

void show(const char* label, const void* p, bool with_error = false) {
  char d[256];
  dlsym_probe_describe(p, d, sizeof d);
  printf("%s %s", label, d);
  if (with_error) {
    const char* e = dlerror();
    printf(" error=%s", e ? e : "(none)");
  }
  printf("\n");
}

}  // namespace

int main() {
  dlerror();
  show("default_puts", dlsym(RTLD_DEFAULT, "puts"));
  show("next_puts", dlsym(RTLD_NEXT, "puts"));
  show("default_missing", dlsym(RTLD_DEFAULT, "hugeshim_no_such_symbol"), true);
  show("next_missing", dlsym(RTLD_NEXT, "hugeshim_no_such_symbol"), true);
  show("default_cu_missing", dlsym(RTLD_DEFAULT, "cuMemHostAlloc"), true);

  void* libm = dlopen("libm.so.6", RTLD_NOW);
  show("libm_cos", dlsym(libm, "cos"));
  show("libm_missing", dlsym(libm, "hugeshim_no_such_symbol"), true);
  show("libm_sin_then_dlerror", dlsym(libm, "sin"), true);
  void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  show("vdefault_memcpy_2.14", dlvsym(RTLD_DEFAULT, "memcpy", "GLIBC_2.14"));
  show("vdefault_memcpy_2.2.5", dlvsym(RTLD_DEFAULT, "memcpy", "GLIBC_2.2.5"));
  show("vnext_puts", dlvsym(RTLD_NEXT, "puts", "GLIBC_2.2.5"));
  show("vlibc_dlsym_2.34", dlvsym(libc, "dlsym", "GLIBC_2.34"));
  show("vlibc_dlsym_2.2.5", dlvsym(libc, "dlsym", "GLIBC_2.2.5"));
  show("vlibc_bad_version", dlvsym(libc, "dlsym", "HUGESHIM_NO_VERSION"), true);
  void* self = dlopen(nullptr, RTLD_NOW);
  show("self_puts", dlsym(self, "puts"));

  void* local = dlopen(RTLD_LOCAL_PROBE_PATH, RTLD_NOW | RTLD_LOCAL);
  show("main_default_local_marker", dlsym(RTLD_DEFAULT, "rtld_local_probe_marker"), true);
  auto lookups = reinterpret_cast<void (*)()>(dlsym(local, "rtld_local_probe_lookups"));
  if (lookups) lookups();

  void* cu_names = dlopen(CU_NAMES_DOUBLE_PATH, RTLD_NOW | RTLD_LOCAL);
  show("cu_names_host_alloc", dlsym(cu_names, "cuMemHostAlloc"));
  show("cu_names_get_proc", dlsym(cu_names, "cuGetProcAddress_v2"));
  show("cu_names_missing_free_host", dlsym(cu_names, "cuMemFreeHost"), true);
  show("cu_names_bad_version", dlvsym(cu_names, "cuMemHostAlloc", "HUGESHIM_NO_VERSION"), true);

  // The driver double: names the shim may wrap are checked for presence
  // only (their address is the shim's wrapper under the shim); the rest in
  // full, errno and dlerror included.
  void* driver = dlopen(LIBCUDA_DOUBLE_PATH, RTLD_NOW | RTLD_LOCAL);
  show("driver_init", dlsym(driver, "cuInit"));
  show("driver_missing_v3", dlsym(driver, "cuMemAllocHost_v3"), true);
  show("driver_missing_wrapped_name_on_libm", dlsym(libm, "cuMemFreeHost"), true);
  errno = 1234;
  void* host_alloc = dlsym(driver, "cuMemHostAlloc");
  int e = errno;
  const char* err = dlerror();
  printf("driver_host_alloc found=%d errno=%d error=%s\n", host_alloc != nullptr, e, err ? err : "(none)");
  errno = 4321;
  void* v = dlvsym(driver, "cuMemFreeHost", "HUGESHIM_NO_VERSION");
  e = errno;
  err = dlerror();
  printf("driver_vsym_free_host found=%d errno=%d error=%s\n", v != nullptr, e, err ? err : "(none)");

  puts("probe done");
  return 0;
}
