// Preparing a range the PROGRAM registers with CUDA (cudaHostRegister,
// cuMemHostRegister/_v2) before the call is forwarded. Registration faults
// every page it pins, one thread at a time and under the driver's lock;
// faulting them first, in parallel and outside that lock, on huge pages where
// the mapping allows and on the GPU's node, leaves the driver only the pinning.
//
// What is done, per mapping of the range (read from /proc/self/smaps with a
// stack buffer: no allocation):
//   anonymous private memory (incl. [heap], the shim's own THP regions):
//     MADV_HUGEPAGE on the 2 MiB-aligned part when THP is `madvise` or
//     `always` (not where the program said MADV_NOHUGEPAGE); bound to the
//     GPU-local node (HUGESHIM_NUMA) when neither the mapping nor the task has
//     a memory policy of its own; populated in parallel.
//   shared memory files (/dev/shm, memfd, SysV, shared anonymous):
//     MADV_HUGEPAGE on the aligned part unless shmem_enabled is deny (the
//     mount's huge= option or shmem_enabled decides); never bound (mbind of a shared mapping sets the
//     policy of the shared object for every process that maps it); populated
//     in parallel.
//   hugetlb (hugetlbfs files, MAP_HUGETLB, the shim's own hugetlb regions):
//     populated in parallel.
//   everything else (IoMemory registrations, device memory (VM_IO/PFNMAP),
//     private or regular file maps, userfaultfd ranges, stacks, holes,
//     mappings the registration could not pin anyway, more than 32 VMAs):
//     the whole range is forwarded untouched.
// Populating uses MADV_POPULATE_WRITE, or MADV_POPULATE_READ for read-only
// registrations: the kernel faults pages without changing a byte. A range
// already resident (smaps Rss == Size, mincore for part of a mapping) is left
// alone. Contents, protections and the program's errno never change; the
// runtime is only asked for the current device (HUGESHIM_NUMA=auto, when a
// binding is needed) with its last error left as it was.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hugeshim {

// Register flags with the same values in the runtime and the driver.
constexpr unsigned kRegisterIoMemory = 0x4;  // cudaHostRegisterIoMemory, CU_MEMHOSTREGISTER_IOMEMORY
constexpr unsigned kRegisterReadOnly = 0x8;  // cudaHostRegisterReadOnly, CU_MEMHOSTREGISTER_READ_ONLY

enum class PrepareOutcome : uint8_t {
  off,        // HUGESHIM_PREPARE=off (or the shim disabled)
  untouched,  // a mapping of the range is not ours to touch: nothing done
  resident,   // every page was in already: nothing done
  prepared,   // pages brought in (some advice/binding may have been refused)
};

struct Preparation {
  PrepareOutcome outcome = PrepareOutcome::off;
  int32_t node = -1;       // node the range was bound to (-1: none, -2: interleave)
  uint64_t populated = 0;  // bytes populated by the shim
};

// The node that memory for the caller's GPU should live on (policy_device_node
// of it), asked at most once per preparation and only when a binding is due.
using PrepareNodeFn = int32_t (*)(const void* ctx);

// Prepares [p, p + size) for a registration with `flags`. Never fails: what it
// cannot do it leaves as it was.
void cuda_prepare_registration(const void* p, size_t size, unsigned flags, PrepareNodeFn node_of,
                               const void* ctx, Preparation* out);

}  // namespace hugeshim
