// A preloaded interposer of puts that forwards through dlsym(RTLD_NEXT): it
// must find the next puts whether it is preloaded before or after the shim.
#include <dlfcn.h>

#include <cstdio>

extern "C" __attribute__((visibility("default"))) int puts(const char* s) {
  static auto next = reinterpret_cast<int (*)(const char*)>(dlsym(RTLD_NEXT, "puts"));
  if (!next) return EOF;
  fputs("[next] ", stdout);
  return next(s);
}
