// The dynamic linker's own dlsym and dlvsym, reached without the shim's
// exported ones (entry/dlsym.cpp), so that the shim's lookups never re-enter
// its interposition layer.
//
// "Next" is what an RTLD_NEXT lookup from the shim finds: the first loaded
// object after the shim that defines the function in its default version
// (libc.so.6 on glibc >= 2.34, libdl.so.2 before, or another interposer
// preloaded after the shim); when no object follows the shim (it was linked
// rather than preloaded), the first other object that defines it. Found by
// walking the loaded objects (dl_iterate_phdr) and reading their symbol
// tables: no allocation, no dlerror state, no dlsym.
#pragma once

namespace hugeshim {

struct NextDl {
  void* dlsym = nullptr;   // nullptr: no object defines it
  void* dlvsym = nullptr;
};

// Walks the loaded objects now (not cached: the caller publishes).
NextDl next_dl_find();

// dlsym and dlvsym of the next object, called directly. The shim is their
// caller, so RTLD_NEXT means "after the shim". nullptr when unresolvable.
void* os_dlsym(void* handle, const char* name);
void* os_dlvsym(void* handle, const char* name, const char* version);

}  // namespace hugeshim
