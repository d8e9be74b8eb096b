/* hugeshim event vocabulary: the codes a ring record carries.
 *
 * Shared by the shim (producer) and the collector (reader). C-compatible.
 * Codes are part of the ring ABI: append new codes at the end of an enum,
 * never renumber, and bump HUGESHIM_RING_ABI_VERSION when a meaning changes.
 */
#ifndef HUGESHIM_EVENTS_H
#define HUGESHIM_EVENTS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Which interposed API produced the event. */
enum hugeshim_api {
  HUGESHIM_API_MALLOC = 0,
  HUGESHIM_API_CALLOC = 1,
  HUGESHIM_API_REALLOC = 2,
  HUGESHIM_API_FREE = 3,
  HUGESHIM_API_POSIX_MEMALIGN = 4,
  HUGESHIM_API_ALIGNED_ALLOC = 5,
  HUGESHIM_API_MEMALIGN = 6,
  HUGESHIM_API_VALLOC = 7,
  HUGESHIM_API_PVALLOC = 8,
  HUGESHIM_API_MMAP = 9,
  HUGESHIM_API_MUNMAP = 10,
  HUGESHIM_API_MREMAP = 11,
  HUGESHIM_API_FILE_MAP = 12,   /* HUGESHIM_FILE_MAP=copy: file served from huge pages */
  HUGESHIM_API_CUDA_HOST_ALLOC = 13,
  HUGESHIM_API_CUDA_MALLOC_HOST = 14,
  HUGESHIM_API_CUDA_FREE_HOST = 15,
  HUGESHIM_API_CUDA_HOST_REGISTER = 16,
  HUGESHIM_API_CUDA_HOST_UNREGISTER = 17,
  HUGESHIM_API_CU_MEM_HOST_ALLOC = 18,
  HUGESHIM_API_CU_MEM_ALLOC_HOST = 19,
  HUGESHIM_API_CU_MEM_FREE_HOST = 20,
  HUGESHIM_API_CU_MEM_HOST_REGISTER = 21,
  HUGESHIM_API_CU_MEM_HOST_UNREGISTER = 22,
  HUGESHIM_API_CUDA_MEMCPY = 23, /* a host<->device copy measured by CUPTI (HUGESHIM_CUPTI=1) */
  HUGESHIM_API_COUNT = 24
};

/* Why a request did not get the first page size of the ladder (or, for
 * NONE, that it did). One code per event: the first reason met going down. */
enum hugeshim_fallback {
  HUGESHIM_FALLBACK_NONE = 0,            /* got the first rung */
  HUGESHIM_FALLBACK_POOL_EMPTY = 1,      /* hugetlb pool could not cover the request (ENOMEM) */
  HUGESHIM_FALLBACK_SIZE_BELOW_PAGE = 2, /* request smaller than the page size */
  HUGESHIM_FALLBACK_MMAP_ERROR = 3,      /* mmap failed with another errno (see err) */
  HUGESHIM_FALLBACK_MBIND_FAILED = 4,    /* NUMA policy could not be applied */
  HUGESHIM_FALLBACK_NOT_IN_LADDER = 5,   /* HUGESHIM_PAGES excludes the sizes that fit */
  HUGESHIM_FALLBACK_THP_DISABLED = 6,    /* THP 'never' or madvise(MADV_HUGEPAGE) refused */
  HUGESHIM_FALLBACK_ARENA_FULL = 7,      /* no address space left in the arena */
  HUGESHIM_FALLBACK_ALIGNMENT = 8,       /* alignment beyond what the shim honours */
  HUGESHIM_FALLBACK_CUDA_FLAGS = 9,      /* flags not expressible with cudaHostRegister */
  HUGESHIM_FALLBACK_REGISTER_FAILED = 10,/* cudaHostRegister of the region failed */
  HUGESHIM_FALLBACK_POPULATE_FAILED = 11,/* pre-faulting failed (e.g. MADV_POPULATE_WRITE) */
  HUGESHIM_FALLBACK_LOCK_FAILED = 12,    /* mlock failed (RLIMIT_MEMLOCK) */
  HUGESHIM_FALLBACK_FILE_UNSUITABLE = 13,/* file map copy refused (written file, not regular) */
  HUGESHIM_FALLBACK_REGISTER_LIMIT = 14, /* larger than one registration may be (HUGESHIM_REGISTER_MAX) */
  HUGESHIM_FALLBACK_REGISTER_REFUSED = 15,/* cudaHostRegister refused outright (801: e.g. Confidential Computing) */
  HUGESHIM_FALLBACK_THP_FRAGMENTED = 16, /* THP skipped: recent THP faults failed or compacted at a loss (core/thp_health.h) */
  HUGESHIM_FALLBACK_COUNT = 17
};

/* Page size classes, the index of per-page-size byte counts and histograms. */
enum hugeshim_page_class {
  HUGESHIM_PAGE_1G = 0,   /* hugetlb 1 GiB */
  HUGESHIM_PAGE_2M = 1,   /* hugetlb 2 MiB */
  HUGESHIM_PAGE_THP = 2,  /* anonymous memory advised MADV_HUGEPAGE */
  HUGESHIM_PAGE_BASE = 3, /* base pages */
  HUGESHIM_PAGE_COUNT = 4
};

/* Phases of a large event, each timed in nanoseconds. */
enum hugeshim_phase {
  HUGESHIM_PHASE_RESERVE = 0,  /* address space + mmap of the backing */
  HUGESHIM_PHASE_POPULATE = 1, /* pre-faulting the pages */
  HUGESHIM_PHASE_LOCK = 2,     /* mlock */
  HUGESHIM_PHASE_REGISTER = 3, /* cudaHostRegister: pin + IOMMU mapping */
  HUGESHIM_PHASE_COUNT = 4
};

/* IOMMU domain type of a GPU (sysfs iommu_groups/N/type), ring ABI. */
enum hugeshim_iommu_type {
  HUGESHIM_IOMMU_UNKNOWN = 0,  /* could not be read */
  HUGESHIM_IOMMU_NONE = 1,     /* no iommu_group: DMA is not translated */
  HUGESHIM_IOMMU_IDENTITY = 2, /* passthrough: no translation */
  HUGESHIM_IOMMU_DMA = 3,      /* translated, strict invalidation */
  HUGESHIM_IOMMU_DMA_FQ = 4,   /* translated, flush queue (lazy invalidation) */
  HUGESHIM_IOMMU_COUNT = 5
};

/* Direction of a copy event (record.copy_kind). */
enum hugeshim_copy_direction {
  HUGESHIM_COPY_UNKNOWN = 0,
  HUGESHIM_COPY_HTOD = 1, /* host to device */
  HUGESHIM_COPY_DTOH = 2, /* device to host */
  HUGESHIM_COPY_COUNT = 3
};

/* The host side of a copy as CUPTI reports it (record.host_memory). */
enum hugeshim_copy_memory {
  HUGESHIM_COPY_MEMORY_UNKNOWN = 0,
  HUGESHIM_COPY_MEMORY_PAGEABLE = 1, /* staged by the driver through its own pinned buffers */
  HUGESHIM_COPY_MEMORY_PINNED = 2,   /* page-locked: DMA straight from the program's pages */
  HUGESHIM_COPY_MEMORY_MANAGED = 3,  /* unified memory */
  HUGESHIM_COPY_MEMORY_COUNT = 4
};

/* Event flags (bit set). */
enum hugeshim_event_flag {
  HUGESHIM_EVENT_REDIRECTED = 1u << 0, /* served from the shim's arena */
  HUGESHIM_EVENT_FROM_CACHE = 1u << 1, /* reused a cached region, no new faults */
  HUGESHIM_EVENT_IN_PLACE = 1u << 2,   /* realloc/mremap resized without moving */
  HUGESHIM_EVENT_FOREIGN = 1u << 3,    /* memory the shim did not allocate (app registration) */
  HUGESHIM_EVENT_FAILED = 1u << 4      /* the call returned an error to the program */
};

/* The page class holding most of an event's bytes (ties: the larger page;
 * base pages when nothing was mapped): the class an event's latency is
 * filed under, by the producer's histograms and the collector alike. */
static inline uint32_t hugeshim_dominant_page_class(const uint64_t page_bytes[HUGESHIM_PAGE_COUNT]) {
  uint32_t best = HUGESHIM_PAGE_BASE;
  uint64_t most = 0;
  for (uint32_t c = 0; c < HUGESHIM_PAGE_COUNT; ++c)
    if (page_bytes[c] > most) {
      most = page_bytes[c];
      best = c;
    }
  return best;
}

const char* hugeshim_api_name(uint32_t api);           /* "malloc", ...; "unknown" if out of range */
const char* hugeshim_fallback_name(uint32_t reason);   /* "pool_empty", ... */
const char* hugeshim_page_class_name(uint32_t cls);    /* "1G", "2M", "thp", "base" */
const char* hugeshim_phase_name(uint32_t phase);       /* "reserve", ... */
const char* hugeshim_iommu_type_name(uint32_t type);   /* "unknown", "none", "identity", "DMA", "DMA-FQ" */
const char* hugeshim_copy_direction_name(uint32_t dir); /* "unknown", "HtoD", "DtoH" */
const char* hugeshim_copy_memory_name(uint32_t mem);   /* "unknown", "pageable", "pinned", "managed" */

#ifdef __cplusplus
}
#endif

#endif
