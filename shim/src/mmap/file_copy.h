// HUGESHIM_FILE_MAP=copy: a large read-only mapping of a regular file that
// nobody writes is served from huge page memory filled by parallel pread()
// instead of the page cache. The program sees the same bytes; the mapping is
// then an ordinary (tracked) private range: munmap releases it, mprotect to
// writable works for MAP_PRIVATE and fails with EACCES for MAP_SHARED, as the
// kernel would answer for a file opened read-only.
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace hugeshim {

// Whether the call has the shape copy mode serves (PROT_READ, MAP_PRIVATE or
// MAP_SHARED, no address, no MAP_FIXED, size >= HUGESHIM_FILE_MIN). Cheap:
// no syscall.
bool file_copy_shape(void* addr, size_t len, int prot, int flags, off_t off);

// Serves the mapping if the file qualifies (regular, opened O_RDONLY, open for
// writing nowhere, the range inside the file) and huge page memory can be
// had. Returns false, errno untouched, when the caller must pass the call
// through to the kernel. Records a HUGESHIM_API_FILE_MAP event either way.
bool file_copy_map(size_t len, int flags, int fd, off_t off, void* caller, void** out);

}  // namespace hugeshim
