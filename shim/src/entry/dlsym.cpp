// The C side of the shim's dlsym and dlvsym (dlsym_trampoline.S): the next
// definitions they jump to, which lookups may be answered with a recording
// wrapper of a CUDA driver entry point, and the lookups that are.
#include "entry/dlsym_trampoline.h"

#if HUGESHIM_DLSYM_TRAMPOLINE

#include "cuda/driver_wrap.h"
#include "hugeshim/options.h"
#include "os/next_dl.h"

extern "C" {
void* hugeshim_next_dlsym = reinterpret_cast<void*>(&hugeshim_dlsym_resolving);
void* hugeshim_next_dlvsym = reinterpret_cast<void*>(&hugeshim_dlvsym_resolving);
}

namespace {

// Where both point when no object defines them: cannot happen with glibc
// (libc or libdl is always loaded), but a lookup must never loop back into
// the resolving stub.
void* no_definition() { return nullptr; }

}  // namespace

extern "C" void hugeshim_dl_resolve_next() {
  void* resolving_dlsym = reinterpret_cast<void*>(&hugeshim_dlsym_resolving);
  void* resolving_dlvsym = reinterpret_cast<void*>(&hugeshim_dlvsym_resolving);
  if (__atomic_load_n(&hugeshim_next_dlsym, __ATOMIC_ACQUIRE) != resolving_dlsym &&
      __atomic_load_n(&hugeshim_next_dlvsym, __ATOMIC_ACQUIRE) != resolving_dlvsym)
    return;
  hugeshim::NextDl next = hugeshim::next_dl_find();
  void* fail = reinterpret_cast<void*>(&no_definition);
  // Racing threads compute and store the same values.
  __atomic_store_n(&hugeshim_next_dlvsym, next.dlvsym ? next.dlvsym : fail, __ATOMIC_RELEASE);
  __atomic_store_n(&hugeshim_next_dlsym, next.dlsym ? next.dlsym : fail, __ATOMIC_RELEASE);
}

using hugeshim::cuda_driver_enabled;
using hugeshim::cuda_driver_is_wrapped_name;
using hugeshim::cuda_driver_lookup;

using DlsymFn = void* (*)(void*, const char*);
using DlvsymFn = void* (*)(void*, const char*, const char*);

extern "C" int hugeshim_dl_wants_driver_wrap(const char* name) {
  return cuda_driver_enabled() && cuda_driver_is_wrapped_name(name);
}

// Entered by a jump from the trampoline: the return address is the
// program's, and so is the requester passed on.
extern "C" void* hugeshim_dlsym_driver(void* handle, const char* name) {
  auto next = reinterpret_cast<DlsymFn>(__atomic_load_n(&hugeshim_next_dlsym, __ATOMIC_ACQUIRE));
  return cuda_driver_lookup(name, next(handle, name), __builtin_return_address(0));
}

extern "C" void* hugeshim_dlvsym_driver(void* handle, const char* name, const char* version) {
  auto next = reinterpret_cast<DlvsymFn>(__atomic_load_n(&hugeshim_next_dlvsym, __ATOMIC_ACQUIRE));
  return cuda_driver_lookup(name, next(handle, name, version), __builtin_return_address(0));
}

#endif
