// The telemetry producer: turns each large Event into a ring record and
// keeps the header's exact counters and histograms. See hugeshim/ring.h for
// the segment layout and the publication protocol.
#include "telemetry/telemetry.h"

#include <cstring>
#include <unistd.h>

#include "hugeshim/clock.h"
#include "hugeshim/options.h"
#include "os/os.h"
#include "telemetry/ring_producer.h"
#include "telemetry/ring_segment.h"

namespace hugeshim {
namespace {

// The current process's segment; nullptr while telemetry is off. Written at
// init and in the fork child (single-threaded moments), read relaxed.
hugeshim_ring_header* g_ring = nullptr;

// Kernel tid of the calling thread, cached (a gettid syscall per event would
// cost more than the rest of the event). Reset in the fork child, whose only
// thread is the one that forked.
thread_local uint32_t t_tid = 0;

hugeshim_ring_header* ring() { return __atomic_load_n(&g_ring, __ATOMIC_RELAXED); }

void add(uint64_t& counter, uint64_t value) {
  if (value) __atomic_fetch_add(&counter, value, __ATOMIC_RELAXED);
}

uint32_t current_tid() {
  if (t_tid == 0) t_tid = os_gettid();
  return t_tid;
}

void count_event(hugeshim_ring_header* h, const Event& e) {
  hugeshim_ring_api_counters& c = h->counters[e.api];
  add(c.events, 1);
  add(c.bytes_requested, e.requested);
  add(c.bytes_mapped, e.mapped);
  for (uint32_t p = 0; p < HUGESHIM_PAGE_COUNT; ++p) add(c.page_bytes[p], e.page_bytes[p]);
  add(c.fallbacks[e.fallback < HUGESHIM_FALLBACK_COUNT ? e.fallback : uint32_t{HUGESHIM_FALLBACK_NONE}], 1);

  const uint32_t page = hugeshim_dominant_page_class(e.page_bytes);
  for (uint32_t phase = 0; phase < HUGESHIM_PHASE_COUNT; ++phase) {
    const uint64_t d = e.phase_ns[phase];
    if (!d) continue;
    hugeshim_ring_histogram& hist = h->histograms[phase][page];
    add(hist.sum_ns, d);
    add(hist.buckets[63 - __builtin_clzll(d)], 1);
  }
}

void make_segment() {
  __atomic_store_n(&g_ring, g_options.ring ? ring_segment_create(g_options.ring_dir, g_options.ring_slots)
                                           : nullptr,
                   __ATOMIC_RELEASE);
}

// Runs after the default-priority destructors (the lowest number runs
// last), so frees made by other libraries' destructors are still recorded.
__attribute__((destructor(101))) void at_normal_exit() { telemetry_at_exit(); }

}  // namespace

void telemetry_init() {
  if (g_options.ring) ring_segment_close_previous_images(g_options.ring_dir, now_ns());
  make_segment();
}

void telemetry_at_exit() {
  hugeshim_ring_header* h = ring();
  // A vfork child shares our memory, ring included: its exit is not ours.
  if (!h || h->pid != os_getpid()) return;
  __atomic_store_n(&g_ring, nullptr, __ATOMIC_RELEASE);  // later events: no record
  ring_segment_exit(h, now_ns());
}

void telemetry_emit(const Event& e) {
  hugeshim_ring_header* h = ring();
  if (!h || e.api >= HUGESHIM_API_COUNT) return;
  const uint64_t end = e.end_ns ? e.end_ns : now_ns();
  const uint32_t tid = e.tid >= 0 ? static_cast<uint32_t>(e.tid) : current_tid();
  count_event(h, e);
  bool written = ring_publish(h, [&](hugeshim_ring_record& r) {
    r.api = e.api;
    r.flags = e.flags;
    r.tid = tid;
    r.gpu = e.gpu;
    r.start_ns = e.start_ns;
    r.end_ns = end;
    r.address = e.address;
    r.requested = e.requested;
    r.mapped = e.mapped;
    memcpy(r.page_bytes, e.page_bytes, sizeof r.page_bytes);
    memcpy(r.phase_ns, e.phase_ns, sizeof r.phase_ns);
    r.numa_asked = e.numa_asked;
    r.numa_got = e.numa_got;
    r.result = e.result;
    r.err = e.err;
    r.fallback = e.fallback;
    r.cuda_flags = e.cuda_flags;
    r.translations = e.translations;
    r.caller = e.caller;
    r.stream = e.stream;
    r.correlation = e.correlation;
    r.copy_kind = e.copy_kind;
    r.host_memory = e.host_memory;
  });
  hugeshim_ring_api_counters& c = h->counters[e.api];
  add(written ? c.records_written : c.records_dropped, 1);
}

void telemetry_count_small(uint32_t api) {
  hugeshim_ring_header* h = ring();
  if (!h || api >= HUGESHIM_API_COUNT) return;
  // Stripe by stack address: threads have distinct stacks (8 MiB apart by
  // default), so concurrent threads rarely share a counter. Relaxed load and
  // store only; a lost increment under a race is accepted (ring.h).
  int on_stack;
  const uint64_t sp = reinterpret_cast<uintptr_t>(&on_stack);
  const uint32_t stripe = static_cast<uint32_t>(((sp >> 20) * 0x9E3779B97F4A7C15ull) >> 60);
  uint64_t* counter = &h->small_calls[stripe % HUGESHIM_RING_SMALL_STRIPES].calls[api];
  __atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

void telemetry_after_fork_child() {
  t_tid = 0;
  if (hugeshim_ring_header* parent = ring()) {
    // The inherited mapping is the parent's ring: let go of it before the
    // child records anything.
    __atomic_store_n(&g_ring, nullptr, __ATOMIC_RELEASE);
    ring_segment_unmap(parent);
    make_segment();
  }
}

int telemetry_register_gpu(const char* pci_bus_id, int numa_node, uint32_t iommu_type) {
  hugeshim_ring_header* h = ring();
  if (!h || !pci_bus_id) return -1;
  while (__atomic_exchange_n(&h->gpu_lock, 1u, __ATOMIC_ACQUIRE)) {
  }
  uint32_t count = h->gpu_count;
  if (count > HUGESHIM_RING_GPU_MAX) count = HUGESHIM_RING_GPU_MAX;
  int index = -1;
  for (uint32_t i = 0; i < count; ++i)
    if (!strncmp(h->gpus[i].pci_bus_id, pci_bus_id, HUGESHIM_RING_BUS_ID_BYTES)) index = static_cast<int>(i);
  if (index < 0 && count < HUGESHIM_RING_GPU_MAX) {
    index = static_cast<int>(count);
    __atomic_store_n(&h->gpu_count, count + 1, __ATOMIC_RELEASE);
  }
  if (index >= 0) {
    hugeshim_ring_gpu& g = h->gpus[index];
    __atomic_store_n(&g.valid, 0u, __ATOMIC_RELEASE);
    strncpy(g.pci_bus_id, pci_bus_id, sizeof g.pci_bus_id - 1);
    g.pci_bus_id[sizeof g.pci_bus_id - 1] = 0;
    g.numa_node = numa_node;
    g.iommu_type = iommu_type;
    __atomic_store_n(&g.valid, 1u, __ATOMIC_RELEASE);
  }
  __atomic_store_n(&h->gpu_lock, 0u, __ATOMIC_RELEASE);
  return index;
}

}  // namespace hugeshim
