// Describing what a lookup returned in a form that is the same from run to
// run (no raw addresses): "<object file>:<nearest symbol>+<offset>".
#pragma once

#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstring>

inline void dlsym_probe_describe(const void* p, char* out, size_t len) {
  Dl_info info;
  if (!p) {
    snprintf(out, len, "null");
  } else if (!dladdr(p, &info) || !info.dli_fname) {
    snprintf(out, len, "unknown");
  } else {
    const char* file = strrchr(info.dli_fname, '/');
    file = file ? file + 1 : info.dli_fname;
    const void* base = info.dli_saddr ? info.dli_saddr : info.dli_fbase;
    snprintf(out, len, "%s:%s+%#lx", file, info.dli_sname ? info.dli_sname : "?",
             static_cast<unsigned long>(reinterpret_cast<uintptr_t>(p) - reinterpret_cast<uintptr_t>(base)));
  }
}
