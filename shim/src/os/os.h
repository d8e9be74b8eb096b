// The OS layer's primitives: page sizes, rounding, and the kernel's memory
// calls made as raw system calls.
//
// The shim exports mmap, munmap, mremap, mprotect and madvise (and the malloc
// family), so every mapping the shim makes for itself, and every call it
// passes through, comes here and never goes back through those symbols: a
// libc call the loader would bind to the shim's own export re-enters the
// interposition layer (readelf -r on libhugeshim.so shows no such binding).
//
// Each os_* function returns what the glibc wrapper returns: MAP_FAILED or
// -1 with errno set, else the result.
#pragma once

#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

// Constants newer than some libc headers this may build against.
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

// Page sizes (x86-64; the shim's ladder names these three).
constexpr size_t kBasePage = 4096;
constexpr size_t kPage2M = size_t{2} << 20;
constexpr size_t kPage1G = size_t{1} << 30;

// a is a power of two. round_up wraps to a small value on overflow: callers
// that take sizes from the program compare the result with the input.
constexpr uintptr_t round_down(uintptr_t v, uintptr_t a) { return v & ~(a - 1); }
constexpr uintptr_t round_up(uintptr_t v, uintptr_t a) { return (v + a - 1) & ~(a - 1); }

inline void* as_ptr(uintptr_t a) { return reinterpret_cast<void*>(a); }
inline uintptr_t as_addr(const void* p) { return reinterpret_cast<uintptr_t>(p); }

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
inline int os_mlock(const void* addr, size_t len) { return static_cast<int>(syscall(SYS_mlock, addr, len)); }
inline int os_munlock(const void* addr, size_t len) {
  return static_cast<int>(syscall(SYS_munlock, addr, len));
}
inline int os_mincore(void* addr, size_t len, unsigned char* vec) {
  return static_cast<int>(syscall(SYS_mincore, addr, len, vec));
}
// mbind(2) and get_mempolicy(2): no libnuma (see shim/CMakeLists.txt).
inline int os_mbind(void* addr, size_t len, int mode, const unsigned long* mask, unsigned long maxnode,
                    unsigned flags) {
  return static_cast<int>(syscall(SYS_mbind, addr, len, mode, mask, maxnode, flags));
}
inline int os_get_mempolicy(int* mode, unsigned long* mask, unsigned long maxnode, void* addr,
                            unsigned long flags) {
  return static_cast<int>(syscall(SYS_get_mempolicy, mode, mask, maxnode, addr, flags));
}
inline uint32_t os_gettid() { return static_cast<uint32_t>(syscall(SYS_gettid)); }
inline int32_t os_getpid() { return static_cast<int32_t>(syscall(SYS_getpid)); }
[[noreturn]] inline void os_exit_group(int status) {
  for (;;) syscall(SYS_exit_group, status);
}

// getdents64(2): directory entries without opendir's malloc.
struct os_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};
inline long os_getdents64(int fd, void* buf, size_t len) { return syscall(SYS_getdents64, fd, buf, len); }

}  // namespace hugeshim
