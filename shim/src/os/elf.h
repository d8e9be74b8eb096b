// Reading a loaded object's dynamic section directly, without the dynamic
// linker's lookup functions: needed where those functions are the ones being
// replaced (the shim's own dlsym/dlvsym). Nothing here allocates, takes a
// lock or calls dlsym.
#pragma once

#include <link.h>

namespace hugeshim {

// The dynamic section of a loaded object (dl_iterate_phdr's view), or
// nullptr when it has none.
const ElfW(Dyn) * elf_dynamic_section(const dl_phdr_info* info);

// The DT_SONAME of the object loaded at `base` with dynamic section `dyn`,
// or nullptr when it has none.
const char* elf_soname(uintptr_t base, const ElfW(Dyn) * dyn);

// Calls each(name) for the object's DT_NEEDED entries in order, until it
// returns false.
template <typename F>
void elf_for_each_needed(uintptr_t base, const ElfW(Dyn) * dyn, F each);

// The object's string table (DT_STRTAB), or nullptr.
const char* elf_string_table(uintptr_t base, const ElfW(Dyn) * dyn);

// The address of the object's own definition of function `name` in its
// default version (the one a new link would bind: not a hidden compat
// version such as dlsym@GLIBC_2.2.5 beside dlsym@@GLIBC_2.34), or of its
// unversioned definition. nullptr when the object does not define it as a
// plain function (undefined, data, or an IFUNC that would need its resolver
// run). Looks up the GNU hash table, else the SysV one.
void* elf_default_function(uintptr_t base, const ElfW(Dyn) * dyn, const char* name);

// The soname of the loaded object containing `address` (dladdr1, which
// takes the loader's recursive lock but neither allocates nor touches the
// dlerror state), or nullptr.
const char* soname_at(const void* address);

// Whether `soname` starts with `prefix` ("libcuda.so", "libcudart.so").
bool soname_is(const char* soname, const char* prefix);

template <typename F>
void elf_for_each_needed(uintptr_t base, const ElfW(Dyn) * dyn, F each) {
  const char* strtab = elf_string_table(base, dyn);
  if (!strtab) return;
  for (; dyn->d_tag != DT_NULL; ++dyn)
    if (dyn->d_tag == DT_NEEDED && !each(strtab + dyn->d_un.d_val)) return;
}

}  // namespace hugeshim
