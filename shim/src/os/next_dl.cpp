#include "os/next_dl.h"

#include <link.h>

#include <cstdint>

#include "os/elf.h"

namespace hugeshim {
namespace {

using DlsymFn = void* (*)(void*, const char*);
using DlvsymFn = void* (*)(void*, const char*, const char*);

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
  bool after_self = true;  // false: any object but the shim counts
  bool seen_self = false;
  NextDl found;
};

int visit(dl_phdr_info* info, size_t, void* data) {
  auto* s = static_cast<Search*>(data);
  if (contains(info, s->self)) {
    s->seen_self = true;
    return 0;
  }
  if (s->after_self && !s->seen_self) return 0;
  const ElfW(Dyn)* dyn = elf_dynamic_section(info);
  if (!dyn) return 0;
  if (!s->found.dlsym) s->found.dlsym = elf_default_function(info->dlpi_addr, dyn, "dlsym");
  if (!s->found.dlvsym) s->found.dlvsym = elf_default_function(info->dlpi_addr, dyn, "dlvsym");
  return s->found.dlsym && s->found.dlvsym;
}

// Resolved once; racing threads compute and store the same values.
NextDl g_next;

const NextDl& next() {
  if (!__atomic_load_n(&g_next.dlsym, __ATOMIC_ACQUIRE)) {
    NextDl n = next_dl_find();
    __atomic_store_n(&g_next.dlvsym, n.dlvsym, __ATOMIC_RELAXED);
    __atomic_store_n(&g_next.dlsym, n.dlsym, __ATOMIC_RELEASE);
  }
  return g_next;
}

}  // namespace

NextDl next_dl_find() {
  Search s;
  s.self = reinterpret_cast<uintptr_t>(&next_dl_find);
  dl_iterate_phdr(visit, &s);
  if (!s.found.dlsym || !s.found.dlvsym) {
    Search any;
    any.self = s.self;
    any.after_self = false;
    dl_iterate_phdr(visit, &any);
    if (!s.found.dlsym) s.found.dlsym = any.found.dlsym;
    if (!s.found.dlvsym) s.found.dlvsym = any.found.dlvsym;
  }
  return s.found;
}

void* os_dlsym(void* handle, const char* name) {
  auto fn = reinterpret_cast<DlsymFn>(__atomic_load_n(&next().dlsym, __ATOMIC_RELAXED));
  return fn ? fn(handle, name) : nullptr;
}

void* os_dlvsym(void* handle, const char* name, const char* version) {
  auto fn = reinterpret_cast<DlvsymFn>(__atomic_load_n(&next().dlvsym, __ATOMIC_RELAXED));
  return fn ? fn(handle, name, version) : nullptr;
}

}  // namespace hugeshim
