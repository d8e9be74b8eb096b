// Resolving the next dlsym and dlvsym without calling either: the shim
// exports both, so dlvsym(RTLD_NEXT, "dlsym", ...) from here would come back
// to the shim. Instead the loaded objects are walked in load order
// (dl_iterate_phdr: no allocation, no dlerror state) and the first object
// after the shim that defines the function in its default version is taken,
// the object an RTLD_NEXT lookup from the shim would find: libc.so.6 on
// glibc >= 2.34 (dlsym@@GLIBC_2.34), libdl.so.2 before, or another
// interposer preloaded after the shim. The version is read from the
// object's symbol tables, so no architecture's base version is hard-coded.
#include "dlsym_trampoline.h"

#if HUGESHIM_DLSYM_TRAMPOLINE

#include <link.h>

#include "dlsym_elf.h"

extern "C" {
void* hugeshim_next_dlsym = reinterpret_cast<void*>(&hugeshim_dlsym_resolving);
void* hugeshim_next_dlvsym = reinterpret_cast<void*>(&hugeshim_dlvsym_resolving);
}

namespace hugeshim {
namespace {

// Where both point when no object defines them: cannot happen with glibc
// (libc or libdl is always loaded), but a lookup must never loop back into
// the resolving stub.
void* no_definition() { return nullptr; }

bool contains(const dl_phdr_info* info, uintptr_t address) {
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (ph.p_type == PT_LOAD && address >= start && address - start < ph.p_memsz) return true;
  }
  return false;
}

struct Search {
  uintptr_t self = 0;      // an address inside the shim
  bool after_self = true;  // false: only objects after the shim count
  bool seen_self = false;
  void* dlsym = nullptr;
  void* dlvsym = nullptr;
};

int visit(dl_phdr_info* info, size_t, void* data) {
  auto* s = static_cast<Search*>(data);
  if (contains(info, s->self)) {
    s->seen_self = true;
    return 0;
  }
  if (s->after_self && !s->seen_self) return 0;
  const ElfW(Dyn)* dyn = nullptr;
  for (int i = 0; i < info->dlpi_phnum; ++i)
    if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
      dyn = reinterpret_cast<const ElfW(Dyn)*>(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
  if (!dyn) return 0;
  if (!s->dlsym) s->dlsym = elf_default_function(info->dlpi_addr, dyn, "dlsym");
  if (!s->dlvsym) s->dlvsym = elf_default_function(info->dlpi_addr, dyn, "dlvsym");
  return s->dlsym && s->dlvsym;
}

}  // namespace
}  // namespace hugeshim

extern "C" void hugeshim_dl_resolve_next() {
  using namespace hugeshim;
  if (__atomic_load_n(&hugeshim_next_dlsym, __ATOMIC_ACQUIRE) !=
          reinterpret_cast<void*>(&hugeshim_dlsym_resolving) &&
      __atomic_load_n(&hugeshim_next_dlvsym, __ATOMIC_ACQUIRE) !=
          reinterpret_cast<void*>(&hugeshim_dlvsym_resolving))
    return;
  Search s;
  s.self = reinterpret_cast<uintptr_t>(&hugeshim_dl_resolve_next);
  dl_iterate_phdr(visit, &s);
  if (!s.dlsym || !s.dlvsym) {  // nothing after us (not preloaded?): any other object
    Search any;
    any.self = s.self;
    any.after_self = false;
    dl_iterate_phdr(visit, &any);
    if (!s.dlsym) s.dlsym = any.dlsym;
    if (!s.dlvsym) s.dlvsym = any.dlvsym;
  }
  void* fail = reinterpret_cast<void*>(&no_definition);
  // Racing threads compute and store the same values.
  __atomic_store_n(&hugeshim_next_dlvsym, s.dlvsym ? s.dlvsym : fail, __ATOMIC_RELEASE);
  __atomic_store_n(&hugeshim_next_dlsym, s.dlsym ? s.dlsym : fail, __ATOMIC_RELEASE);
}

#endif
