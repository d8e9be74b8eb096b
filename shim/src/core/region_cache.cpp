#include "core/region_cache.h"

#include <cstring>

#include "hugeshim/options.h"
#include "os/os.h"

namespace hugeshim {
namespace {

constexpr int kCacheSlots = 256;
Region* g_entries[kCacheSlots];  // oldest first
int g_count = 0;
size_t g_bytes = 0;

void remove_at(int i) {
  g_bytes -= g_entries[i]->mapped;
  g_entries[i]->cached = false;
  memmove(g_entries + i, g_entries + i + 1, (g_count - i - 1) * sizeof(Region*));
  --g_count;
}

}  // namespace

Region* cache_take(const RegionRequest& request, size_t mapped_need) {
  size_t align = request.align ? request.align : 1;
  size_t limit = mapped_need + mapped_need / 4 + kPage2M;
  for (int i = g_count - 1; i >= 0; --i) {  // newest first: warmest in caches
    Region* r = g_entries[i];
    if (r->origin != request.origin || r->numa_node != request.numa_node) continue;
    if (r->mapped < mapped_need || r->mapped > limit || r->base % align) continue;
    if (request.lock && !r->locked) continue;
    remove_at(i);
    return r;
  }
  return nullptr;
}

bool cache_put(Region* r, Region** evicted, int max_evicted, int* evicted_count) {
  *evicted_count = 0;
  size_t budget = g_options.cache_bytes;
  if (r->mapped > budget) return false;
  while ((g_bytes + r->mapped > budget || g_count == kCacheSlots) && g_count > 0 &&
         *evicted_count < max_evicted) {
    evicted[(*evicted_count)++] = g_entries[0];
    remove_at(0);
  }
  if (g_bytes + r->mapped > budget || g_count == kCacheSlots) return false;
  r->cached = true;
  g_entries[g_count++] = r;
  g_bytes += r->mapped;
  return true;
}

}  // namespace hugeshim
