// Reading a loaded object's dynamic section directly, without the dynamic
// linker's lookup functions: needed where those functions are the ones being
// replaced (the shim's own dlsym/dlvsym). Nothing here allocates, takes a
// lock or calls dlsym.
#pragma once

#include <link.h>

namespace hugeshim {

// The DT_SONAME of the object loaded at `base` with dynamic section `dyn`,
// or nullptr when it has none.
const char* elf_soname(uintptr_t base, const ElfW(Dyn) * dyn);

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

}  // namespace hugeshim
