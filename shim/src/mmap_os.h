// The kernel's own memory-mapping calls, made as raw system calls (exactly
// what glibc's wrappers do). The shim exports mmap, munmap, mremap, mprotect
// and madvise, so every mapping it makes for itself, and every call it passes
// through, must come here and not go back through those symbols.
//
// Each returns what the glibc wrapper returns: MAP_FAILED or -1 with errno set
// by syscall(), else the result.
#pragma once

#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

namespace hugeshim {

constexpr uintptr_t kMapPage = 4096;
constexpr uintptr_t kMapHuge = uintptr_t{2} << 20;

inline uintptr_t round_down(uintptr_t v, uintptr_t a) { return v & ~(a - 1); }
inline uintptr_t round_up(uintptr_t v, uintptr_t a) { return (v + a - 1) & ~(a - 1); }

inline void* os_mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
  return reinterpret_cast<void*>(syscall(SYS_mmap, addr, len, prot, flags, fd, off));
}
inline int os_munmap(void* addr, size_t len) { return static_cast<int>(syscall(SYS_munmap, addr, len)); }
inline void* os_mremap(void* old, size_t old_len, size_t new_len, int flags, void* new_addr) {
  return reinterpret_cast<void*>(syscall(SYS_mremap, old, old_len, new_len, flags, new_addr));
}
inline int os_mprotect(void* addr, size_t len, int prot) {
  return static_cast<int>(syscall(SYS_mprotect, addr, len, prot));
}
inline int os_madvise(void* addr, size_t len, int advice) {
  return static_cast<int>(syscall(SYS_madvise, addr, len, advice));
}

inline void* as_ptr(uintptr_t a) { return reinterpret_cast<void*>(a); }
inline uintptr_t as_addr(const void* p) { return reinterpret_cast<uintptr_t>(p); }

}  // namespace hugeshim
