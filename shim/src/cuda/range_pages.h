// Which page sizes back a byte range an application registers with CUDA,
// and how many pages (pin entries, IOMMU translations) that makes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "hugeshim/events.h"
#include "telemetry/telemetry.h"

namespace hugeshim {

// Fills out[HUGESHIM_PAGE_COUNT] with the bytes of [p, p + length) per page
// class. Arena memory is answered from its region's segments; foreign
// memory from /proc/self/smaps (KernelPageSize per VMA; the
// THP share of a base-page VMA is prorated from its AnonHugePages). Bytes
// outside any mapping are not counted. Never allocates.
void range_page_bytes(const void* p, size_t length, uint64_t out[HUGESHIM_PAGE_COUNT]);

// Pages the bytes per class amount to (THP counted as 2 MiB pages).
uint64_t page_count(const uint64_t page_bytes[HUGESHIM_PAGE_COUNT]);

// Fills a registration or pinned allocation event with the page facts of
// [p, p + size): bytes per page class, translations, and REDIRECTED (arena
// memory) or FOREIGN. Call after the pages were faulted in.
void range_page_facts(const void* p, size_t size, Event* ev);

}  // namespace hugeshim
