#include "core/region_table.h"

#include "core/arena.h"
#include "os/os.h"

namespace hugeshim {
namespace {

constexpr uint32_t kMaxRegions = 1u << 16;

Region* g_regions = nullptr;    // kMaxRegions slots
uint32_t* g_free_slots = nullptr;
uint32_t g_free_slot_count = 0;
uint32_t* g_pagemap = nullptr;  // region index + 1 per granule; 0 = none

// Zeroed metadata pages, faulted in only where used.
void* os_metadata(size_t len) {
  void* p = os_mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

}  // namespace

bool region_table_init(size_t arena_size) {
  if (!g_regions) {
    g_regions = static_cast<Region*>(os_metadata(kMaxRegions * sizeof(Region)));
    g_free_slots = static_cast<uint32_t*>(os_metadata(kMaxRegions * sizeof(uint32_t)));
    if (!g_regions || !g_free_slots) return false;
    for (uint32_t i = 0; i < kMaxRegions; ++i) g_free_slots[i] = kMaxRegions - 1 - i;
    g_free_slot_count = kMaxRegions;
  }
  g_pagemap = static_cast<uint32_t*>(os_metadata(arena_size / kGranule * sizeof(uint32_t)));
  return g_pagemap != nullptr;
}

Region* region_table_new() {
  if (g_free_slot_count == 0) return nullptr;
  uint32_t slot = g_free_slots[--g_free_slot_count];
  Region* r = &g_regions[slot];
  *r = Region{};
  r->index = slot;
  return r;
}

void region_table_delete(Region* r) { g_free_slots[g_free_slot_count++] = r->index; }

void region_table_set(uintptr_t addr, size_t len, Region* r) {
  uint64_t first = (addr - g_arena_base) / kGranule;
  uint64_t count = (len + kGranule - 1) / kGranule;
  uint32_t value = r ? r->index + 1 : 0;
  for (uint64_t g = 0; g < count; ++g) g_pagemap[first + g] = value;
}

Region* region_table_get(uintptr_t addr) {
  uint32_t v = g_pagemap[(addr - g_arena_base) / kGranule];
  return v ? &g_regions[v - 1] : nullptr;
}

}  // namespace hugeshim
