// Loaded with RTLD_LOCAL by dlsym_probe: RTLD_DEFAULT from here searches this
// library's own scope too, and RTLD_NEXT starts after it. Both depend on
// glibc seeing this library as the caller, which a dlsym wrapper that is not
// a pure jump would break.
#include "dlsym_probe.h"

extern "C" {
__attribute__((visibility("default"))) int rtld_local_probe_marker = 42;
}

extern "C" __attribute__((visibility("default"))) void rtld_local_probe_lookups() {
  char a[256], b[256];
  dlsym_probe_describe(dlsym(RTLD_DEFAULT, "rtld_local_probe_marker"), a, sizeof a);
  dlsym_probe_describe(dlsym(RTLD_NEXT, "puts"), b, sizeof b);
  printf("local_default_marker %s\nlocal_next_puts %s\n", a, b);
  dlsym_probe_describe(dlvsym(RTLD_NEXT, "puts", "GLIBC_2.2.5"), a, sizeof a);
  printf("local_vnext_puts %s\n", a);
}
