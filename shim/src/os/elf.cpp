#include "os/elf.h"

#include <dlfcn.h>
#include <elf.h>
#include <cstring>

namespace hugeshim {
namespace {

// glibc relocates the d_ptr entries of a writable dynamic section in place;
// a read-only one (the vDSO's) still holds offsets from the load base.
template <typename T>
const T* dyn_pointer(uintptr_t base, ElfW(Addr) p) {
  return reinterpret_cast<const T*>(p < base ? p + base : p);
}

struct DynamicTables {
  const ElfW(Sym)* symtab = nullptr;
  const char* strtab = nullptr;
  const uint32_t* gnu_hash = nullptr;
  const uint32_t* sysv_hash = nullptr;
  const ElfW(Half)* versym = nullptr;
  const char* soname = nullptr;
};

DynamicTables read_dynamic(uintptr_t base, const ElfW(Dyn) * dyn) {
  DynamicTables t;
  ElfW(Xword) soname_offset = 0;
  bool has_soname = false;
  for (; dyn && dyn->d_tag != DT_NULL; ++dyn) {
    switch (dyn->d_tag) {
      case DT_SYMTAB: t.symtab = dyn_pointer<ElfW(Sym)>(base, dyn->d_un.d_ptr); break;
      case DT_STRTAB: t.strtab = dyn_pointer<char>(base, dyn->d_un.d_ptr); break;
      case DT_GNU_HASH: t.gnu_hash = dyn_pointer<uint32_t>(base, dyn->d_un.d_ptr); break;
      case DT_HASH: t.sysv_hash = dyn_pointer<uint32_t>(base, dyn->d_un.d_ptr); break;
      case DT_VERSYM: t.versym = dyn_pointer<ElfW(Half)>(base, dyn->d_un.d_ptr); break;
      case DT_SONAME:
        soname_offset = dyn->d_un.d_val;
        has_soname = true;
        break;
      default: break;
    }
  }
  if (has_soname && t.strtab) t.soname = t.strtab + soname_offset;
  return t;
}

// A defined function in the default (or no) version. (st_info: type in the
// low four bits, binding in the high four, for ELF32 and ELF64 alike.)
bool acceptable(const DynamicTables& t, uint32_t index, const char* name) {
  const ElfW(Sym)& s = t.symtab[index];
  if (s.st_shndx == SHN_UNDEF || s.st_value == 0 || (s.st_info & 0xf) != STT_FUNC) return false;
  const unsigned char bind = static_cast<unsigned char>(s.st_info >> 4);
  if (bind != STB_GLOBAL && bind != STB_WEAK) return false;
  if (t.versym) {
    ElfW(Half) v = t.versym[index];
    if ((v & 0x8000) || (v & 0x7fff) == 0) return false;  // hidden compat version, or local
  }
  return strcmp(t.strtab + s.st_name, name) == 0;
}

uint32_t gnu_hash_of(const char* name) {
  uint32_t h = 5381;
  for (const unsigned char* c = reinterpret_cast<const unsigned char*>(name); *c; ++c) h = h * 33 + *c;
  return h;
}

uint32_t sysv_hash_of(const char* name) {
  uint32_t h = 0;
  for (const unsigned char* c = reinterpret_cast<const unsigned char*>(name); *c; ++c) {
    h = (h << 4) + *c;
    uint32_t g = h & 0xf0000000u;
    if (g) h ^= g >> 24;
    h &= ~g;
  }
  return h;
}

// Every version of a name sits in the same chain: walk all of it.
int64_t find_gnu(const DynamicTables& t, const char* name) {
  const uint32_t* h = t.gnu_hash;
  const uint32_t nbuckets = h[0], symoffset = h[1], bloom_words = h[2];
  if (nbuckets == 0) return -1;
  const auto* bloom = reinterpret_cast<const ElfW(Addr)*>(h + 4);
  const auto* buckets = reinterpret_cast<const uint32_t*>(bloom + bloom_words);
  const uint32_t* chain = buckets + nbuckets;
  const uint32_t hash = gnu_hash_of(name);
  uint32_t i = buckets[hash % nbuckets];
  if (i < symoffset) return -1;
  for (;; ++i) {
    const uint32_t entry = chain[i - symoffset];
    if ((entry | 1) == (hash | 1) && acceptable(t, i, name)) return i;
    if (entry & 1) return -1;
  }
}

int64_t find_sysv(const DynamicTables& t, const char* name) {
  const uint32_t* h = t.sysv_hash;
  const uint32_t nbucket = h[0];
  if (nbucket == 0) return -1;
  const uint32_t* bucket = h + 2;
  const uint32_t* chain = bucket + nbucket;
  for (uint32_t i = bucket[sysv_hash_of(name) % nbucket]; i != STN_UNDEF; i = chain[i])
    if (acceptable(t, i, name)) return i;
  return -1;
}

}  // namespace

const ElfW(Dyn) * elf_dynamic_section(const dl_phdr_info* info) {
  for (int i = 0; i < info->dlpi_phnum; ++i)
    if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
      return reinterpret_cast<const ElfW(Dyn)*>(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
  return nullptr;
}

const char* elf_soname(uintptr_t base, const ElfW(Dyn) * dyn) { return read_dynamic(base, dyn).soname; }

const char* elf_string_table(uintptr_t base, const ElfW(Dyn) * dyn) { return read_dynamic(base, dyn).strtab; }

void* elf_default_function(uintptr_t base, const ElfW(Dyn) * dyn, const char* name) {
  DynamicTables t = read_dynamic(base, dyn);
  if (!t.symtab || !t.strtab) return nullptr;
  int64_t i = t.gnu_hash ? find_gnu(t, name) : t.sysv_hash ? find_sysv(t, name) : -1;
  if (i < 0) return nullptr;
  return reinterpret_cast<void*>(base + t.symtab[i].st_value);
}

const char* soname_at(const void* address) {
  Dl_info info;
  link_map* map = nullptr;
  if (!dladdr1(address, &info, reinterpret_cast<void**>(&map), RTLD_DL_LINKMAP) || !map || !map->l_ld)
    return nullptr;
  return elf_soname(map->l_addr, map->l_ld);
}

bool soname_is(const char* soname, const char* prefix) {
  return soname && strncmp(soname, prefix, strlen(prefix)) == 0;
}

}  // namespace hugeshim
