// Names of the event codes in hugeshim/events.h. Part of hugeshim_common,
// which the shim, the collector and the doctor all link, so every component
// spells every code the same way.
#include "hugeshim/events.h"

namespace {

template <unsigned N>
const char* lookup(const char* const (&names)[N], uint32_t code) {
  return code < N ? names[code] : "unknown";
}

constexpr const char* kApiNames[HUGESHIM_API_COUNT] = {
    "malloc", "calloc", "realloc", "free", "posix_memalign", "aligned_alloc", "memalign",
    "valloc", "pvalloc", "mmap", "munmap", "mremap", "file_map", "cudaHostAlloc",
    "cudaMallocHost", "cudaFreeHost", "cudaHostRegister", "cudaHostUnregister",
    "cuMemHostAlloc", "cuMemAllocHost", "cuMemFreeHost", "cuMemHostRegister",
    "cuMemHostUnregister", "cudaMemcpy"};

constexpr const char* kFallbackNames[HUGESHIM_FALLBACK_COUNT] = {
    "none", "pool_empty", "size_below_page", "mmap_error", "mbind_failed", "not_in_ladder",
    "thp_disabled", "arena_full", "alignment", "cuda_flags", "register_failed",
    "populate_failed", "lock_failed", "file_unsuitable", "register_limit",
    "register_refused", "thp_fragmented"};

constexpr const char* kPageNames[HUGESHIM_PAGE_COUNT] = {"1G", "2M", "thp", "base"};

constexpr const char* kPhaseNames[HUGESHIM_PHASE_COUNT] = {"reserve", "populate", "lock",
                                                           "register"};

constexpr const char* kIommuNames[HUGESHIM_IOMMU_COUNT] = {"unknown", "none", "identity", "DMA",
                                                           "DMA-FQ"};

constexpr const char* kCopyDirectionNames[HUGESHIM_COPY_COUNT] = {"unknown", "HtoD", "DtoH"};

constexpr const char* kCopyMemoryNames[HUGESHIM_COPY_MEMORY_COUNT] = {"unknown", "pageable", "pinned",
                                                                     "managed"};

}  // namespace

extern "C" {
const char* hugeshim_api_name(uint32_t api) { return lookup(kApiNames, api); }
const char* hugeshim_fallback_name(uint32_t reason) { return lookup(kFallbackNames, reason); }
const char* hugeshim_page_class_name(uint32_t cls) { return lookup(kPageNames, cls); }
const char* hugeshim_phase_name(uint32_t phase) { return lookup(kPhaseNames, phase); }
const char* hugeshim_iommu_type_name(uint32_t type) { return lookup(kIommuNames, type); }
const char* hugeshim_copy_direction_name(uint32_t dir) { return lookup(kCopyDirectionNames, dir); }
const char* hugeshim_copy_memory_name(uint32_t mem) { return lookup(kCopyMemoryNames, mem); }
}
