// The C side of the shim's dlsym and dlvsym (dlsym_trampoline.S): which
// lookups may be answered with a recording wrapper of a CUDA driver entry
// point, and the lookups that are.
#include "dlsym_trampoline.h"

#if HUGESHIM_DLSYM_TRAMPOLINE

#include "cuda_driver_wrap.h"
#include "options.h"

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

namespace {

// After shim_init (priority 101) has read the options. Resolving here too
// means no lookup resolves lazily later under locks we cannot see.
__attribute__((constructor(102))) void dlsym_init() {
  hugeshim_dl_resolve_next();
  hugeshim::cuda_driver_enable(!hugeshim::g_options.disable && hugeshim::g_options.intercept_cuda);
}

}  // namespace

#endif
