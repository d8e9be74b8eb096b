// Mappings the CUDA test programs register (cuda_app, cuda_driver_prepare_app):
// a shared file map (/dev/shm or a regular file), an aligned MADV_HUGEPAGE
// anonymous map, and the test pattern written before a registration and
// checked after it.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

namespace app_maps {

inline uint64_t pattern(size_t i) { return i * 0x9e3779b97f4a7c15ull; }

// MAP_SHARED map of the file at path (size bytes; created and sized when
// shorter). read_only: a new file is filled with the pattern through pwrite
// and mapped PROT_READ.
inline void* map_file(const char* path, size_t size, bool read_only) {
  if (!path) return MAP_FAILED;
  int fd = open(path, O_RDWR | O_CREAT, 0600);
  if (fd < 0) return MAP_FAILED;
  struct stat st;
  bool fresh = fstat(fd, &st) == 0 && static_cast<size_t>(st.st_size) < size;
  if (fresh && ftruncate(fd, static_cast<off_t>(size)) != 0) return MAP_FAILED;
  if (fresh && read_only) {
    static uint64_t chunk[1 << 17];  // 1 MiB
    for (size_t off = 0; off < size; off += sizeof chunk) {
      for (size_t i = 0; i < (1u << 17); ++i) chunk[i] = pattern(off / 8 + i);
      size_t n = size - off < sizeof chunk ? size - off : sizeof chunk;
      if (pwrite(fd, chunk, n, static_cast<off_t>(off)) != static_cast<ssize_t>(n)) return MAP_FAILED;
    }
  }
  void* p = mmap(nullptr, size, read_only ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  return p;
}

// Anonymous private map of size bytes at a 2 MiB boundary, MADV_HUGEPAGE.
inline void* map_thp(size_t size) {
  size_t two = size_t{2} << 20;
  auto* raw = static_cast<char*>(mmap(nullptr, size + two, PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (raw == MAP_FAILED) return MAP_FAILED;
  uintptr_t r = reinterpret_cast<uintptr_t>(raw), at = (r + two - 1) & ~(two - 1);
  if (at > r) munmap(raw, at - r);
  munmap(reinterpret_cast<char*>(at) + size, r + two - at);
  madvise(reinterpret_cast<void*>(at), size, MADV_HUGEPAGE);
  return reinterpret_cast<void*>(at);
}

inline void write_pattern(void* p, size_t size) {
  auto* w = static_cast<uint64_t*>(p);
  for (size_t i = 0; i < size / 8; ++i) w[i] = pattern(i);
}

inline size_t check_pattern(const void* p, size_t size) {
  auto* w = static_cast<const uint64_t*>(p);
  size_t bad = 0;
  for (size_t i = 0; i < size / 8; ++i) bad += w[i] != pattern(i);
  return bad;
}

}  // namespace app_maps
