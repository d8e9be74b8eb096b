// The region life cycle from several threads at once, in this process, with
// the free-region cache on: each worker allocates (from the ladder or the
// cache), fills its regions with a pattern only it writes, resizes them in
// place, checks the pattern, and releases them, emitting one telemetry event
// per call as the entry layer does, while another thread emits events and
// small-call counts of its own. Any two threads handed overlapping memory, a
// lost resize or a cache mix-up shows as a broken pattern; the ring's exact
// counters must add up to the events emitted; at the end the arena is whole.
// Skipped where other mappings occupy the arena's window (arena_window.h).
//
// Meant for the sanitizer presets as much as for the normal build: under
// ThreadSanitizer it checks the locking of the arena, table and cache, under
// AddressSanitizer the bookkeeping around them. THP and base pages only, so
// the hugetlb pool is never touched.
#define BOOST_TEST_MODULE region_stress
#include <boost/test/unit_test.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "arena_window.h"
#include "core/arena.h"
#include "core/region.h"
#include "hugeshim/options.h"
#include "hugeshim/ring.h"
#include "os/backing.h"
#include "telemetry/telemetry.h"

using namespace hugeshim;

namespace {

constexpr size_t kMiB = size_t{1} << 20;
constexpr int kWorkers = 4;
constexpr int kStepsPerWorker = 400;
constexpr int kLivePerWorker = 3;
constexpr uint32_t kRingSlots = 1024;  // small: the ring overflows and counts drops
// Pattern words sit every kStride bytes, plus the last word: every granule
// and the tail are covered without touching every page.
constexpr size_t kStride = 64 * 1024;

// The options, arena and ring the whole run shares; the ring lives in a
// private directory removed afterwards.
struct ShimCore {
  std::string ring_dir;

  ShimCore() {
    char dir[] = "/tmp/hugeshim-region-stress-XXXXXX";
    if (!mkdtemp(dir)) throw std::runtime_error("mkdtemp failed");
    ring_dir = dir;
    g_options = Options{};
    g_options.ladder[0] = Rung::thp;
    g_options.ladder_len = 1;
    g_options.cache_bytes = 48 * kMiB;
    g_options.prefault_threads = 2;
    g_options.log = LogLevel::off;
    g_options.ring = true;
    g_options.ring_slots = kRingSlots;
    snprintf(g_options.ring_dir, sizeof g_options.ring_dir, "%s", dir);
    backing_init();
    if (!arena_init()) throw std::runtime_error("arena_init could not reserve the arena");
    telemetry_init();
  }
  ~ShimCore() {
    if (DIR* d = opendir(ring_dir.c_str())) {
      while (dirent* e = readdir(d))
        if (e->d_name[0] != '.') unlinkat(dirfd(d), e->d_name, 0);
      closedir(d);
    }
    rmdir(ring_dir.c_str());
  }
};
ShimCore* g_core = nullptr;
struct GlobalCore {
  ShimCore core;
  GlobalCore() { g_core = &core; }
};

// The word a worker writes at `offset` of a region it owns in generation `gen`.
uint64_t pattern(uint32_t worker, uint32_t gen, size_t offset) {
  return (uint64_t{worker} << 56) ^ (uint64_t{gen} << 32) ^ offset ^ 0x9E3779B97F4A7C15ull;
}

uint64_t* word_at(const Region* r, size_t offset) { return reinterpret_cast<uint64_t*>(r->base + offset); }

// A region a worker owns, and the size its pattern was last written for.
struct Live {
  Region* region = nullptr;
  uint32_t gen = 0;
  size_t filled = 0;
};

size_t last_word(size_t size) { return (size - sizeof(uint64_t)) & ~size_t{7}; }

// Writes the pattern words of the first `size` bytes: every kStride bytes
// and the last word.
void fill(Live& l, uint32_t worker, size_t size) {
  for (size_t off = 0; off + sizeof(uint64_t) <= size; off += kStride) *word_at(l.region, off) = pattern(worker, l.gen, off);
  *word_at(l.region, last_word(size)) = pattern(worker, l.gen, last_word(size));
  l.filled = size;
}

// Whether the pattern words written (for l.filled bytes) that lie within the
// first `size` bytes are still there.
bool intact(const Live& l, uint32_t worker, size_t size) {
  const size_t upto = std::min(size, l.filled);
  for (size_t off = 0; off + sizeof(uint64_t) <= upto; off += kStride)
    if (*word_at(l.region, off) != pattern(worker, l.gen, off)) return false;
  const size_t last = last_word(l.filled);
  return last + sizeof(uint64_t) > size || *word_at(l.region, last) == pattern(worker, l.gen, last);
}

bool zero(const Region* r, size_t size) {
  for (size_t off = 0; off + sizeof(uint64_t) <= size; off += kStride)
    if (*word_at(r, off) != 0) return false;
  return *word_at(r, last_word(size)) == 0;
}

struct WorkerResult {
  uint64_t attempts = 0, allocations = 0, resizes = 0, releases = 0, cache_hits = 0, in_place = 0;
  std::vector<std::string> failures;
};

// Sizes from a few classes, so released regions are often reusable.
size_t pick_size(std::mt19937_64& rng) {
  static constexpr size_t kClasses[] = {256 * 1024, 2 * kMiB, 3 * kMiB + 5, 4 * kMiB, 6 * kMiB, 8 * kMiB - 100};
  size_t base = kClasses[rng() % std::size(kClasses)];
  return base - (rng() % 4) * kBasePage / 2;
}

void run_worker(uint32_t worker, WorkerResult* out) {
  std::mt19937_64 rng(worker * 7919 + 1);
  std::array<Live, kLivePerWorker> live{};
  uint32_t next_gen = 1;
  auto fail = [&](const std::string& what) {
    if (out->failures.size() < 20) out->failures.push_back("worker " + std::to_string(worker) + ": " + what);
  };
  auto release = [&](Live& l) {
    if (!intact(l, worker, l.filled)) fail("pattern broken before release");
    if (region_find(as_ptr(l.region->base)) != l.region) fail("region_find lost a live region");
    Event ev = event_start(HUGESHIM_API_FREE, l.region->size, nullptr);
    region_release(l.region, &ev);
    telemetry_emit(ev);
    ++out->releases;
    l.region = nullptr;
  };

  for (int step = 0; step < kStepsPerWorker; ++step) {
    Live& l = live[rng() % kLivePerWorker];
    if (!l.region) {
      RegionRequest q;
      q.size = pick_size(rng);
      q.zero = rng() % 3 == 0;
      Event ev = event_start(q.zero ? HUGESHIM_API_CALLOC : HUGESHIM_API_MALLOC, q.size, nullptr);
      l.region = region_allocate(q, &ev);
      telemetry_emit(ev);
      ++out->attempts;
      if (!l.region) {
        fail("allocation of " + std::to_string(q.size) + " failed");
        continue;
      }
      ++out->allocations;
      if (ev.flags & HUGESHIM_EVENT_FROM_CACHE) ++out->cache_hits;
      if (l.region->size != q.size || l.region->mapped < q.size) fail("sizes wrong after allocation");
      if (q.zero && !zero(l.region, q.size)) fail("zeroed allocation holds data");
      l.gen = next_gen++;
      fill(l, worker, q.size);
    } else if (rng() % 2) {
      const size_t old_size = l.region->size;
      const uintptr_t old_base = l.region->base;
      const size_t new_size = pick_size(rng) + (rng() % 2 ? 4 * kMiB : 0);
      Event ev = event_start(HUGESHIM_API_REALLOC, new_size, nullptr);
      const bool resized = region_resize_in_place(l.region, new_size, &ev);
      telemetry_emit(ev);
      ++out->resizes;
      if (l.region->base != old_base) fail("resize in place moved the region");
      if (resized) {
        ++out->in_place;
        if (l.region->size != new_size || l.region->mapped < new_size) fail("sizes wrong after resize");
        if (!intact(l, worker, new_size)) fail("pattern broken by resize");
        fill(l, worker, new_size);
      } else if (l.region->size != old_size || !intact(l, worker, old_size)) {
        fail("failed resize changed the region");
      }
    } else {
      release(l);
    }
  }
  for (Live& l : live)
    if (l.region) release(l);
}

// Empties the cache (a one-page budget makes each release evict older
// entries; the last page-sized region is released uncached).
void drain_cache() {
  g_options.cache_bytes = kBasePage;
  RegionRequest q;
  q.size = kBasePage;
  Event ev;
  for (int i = 0; i < 64; ++i) region_release(region_allocate(q, &ev), &ev);
  Region* last = region_allocate(q, &ev);
  g_options.cache_bytes = 0;
  region_release(last, &ev);
}

// A read-only view of this process's ring segment (the one file in the dir).
const hugeshim_ring_header* map_ring(const std::string& dir, size_t* size) {
  DIR* d = opendir(dir.c_str());
  BOOST_REQUIRE(d);
  std::string name;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') name = e->d_name;
  closedir(d);
  BOOST_REQUIRE(!name.empty());
  int fd = open((dir + "/" + name).c_str(), O_RDONLY);
  BOOST_REQUIRE(fd >= 0);
  *size = static_cast<size_t>(lseek(fd, 0, SEEK_END));
  void* p = mmap(nullptr, *size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  BOOST_REQUIRE(p != MAP_FAILED);
  return static_cast<const hugeshim_ring_header*>(p);
}

}  // namespace

BOOST_TEST_GLOBAL_FIXTURE(GlobalCore);

BOOST_AUTO_TEST_CASE(threads_allocating_resizing_and_releasing_never_share_memory,
                     *boost::unit_test::precondition(test::arena_window_unmapped())) {
  std::vector<WorkerResult> results(kWorkers);
  std::atomic<bool> workers_done{false};
  uint64_t side_events = 0, side_small = 0;

  std::thread side([&] {
    // Telemetry traffic of its own while the workers run.
    while (!workers_done.load(std::memory_order_acquire)) {
      Event ev = event_start(HUGESHIM_API_MMAP, 8 * kMiB, nullptr);
      ev.mapped = 8 * kMiB;
      ev.page_bytes[HUGESHIM_PAGE_THP] = 8 * kMiB;
      ev.phase_ns[HUGESHIM_PHASE_RESERVE] = 1000 + side_events;
      telemetry_emit(ev);
      ++side_events;
      telemetry_count_small(HUGESHIM_API_CUDA_HOST_ALLOC);
      ++side_small;
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) workers.emplace_back(run_worker, static_cast<uint32_t>(w), &results[w]);
  for (auto& t : workers) t.join();
  workers_done.store(true, std::memory_order_release);
  side.join();

  uint64_t attempts = 0, allocations = 0, resizes = 0, releases = 0, cache_hits = 0, in_place = 0;
  for (const WorkerResult& r : results) {
    for (const std::string& f : r.failures) BOOST_ERROR(f);
    attempts += r.attempts;
    allocations += r.allocations;
    resizes += r.resizes;
    releases += r.releases;
    cache_hits += r.cache_hits;
    in_place += r.in_place;
  }
  BOOST_TEST_MESSAGE(allocations << " allocations (" << cache_hits << " from the cache), " << resizes
                                 << " resizes (" << in_place << " in place), " << releases << " releases, "
                                 << side_events << " side events");
  BOOST_TEST(releases == allocations);
  // The run exercised what it is meant to: reuse across threads and both
  // outcomes of resizing in place.
  BOOST_TEST(cache_hits > 0u);
  BOOST_TEST(in_place > 0u);
  BOOST_TEST(in_place < resizes);

  drain_cache();
  BOOST_TEST(test::arena_prefix_free());

  size_t size = 0;
  const hugeshim_ring_header* h = map_ring(g_core->ring_dir, &size);
  auto events = [&](uint32_t api) { return h->counters[api].events; };
  BOOST_TEST(events(HUGESHIM_API_MALLOC) + events(HUGESHIM_API_CALLOC) == attempts);
  BOOST_TEST(events(HUGESHIM_API_REALLOC) == resizes);
  BOOST_TEST(events(HUGESHIM_API_FREE) == releases);
  BOOST_TEST(events(HUGESHIM_API_MMAP) == side_events);
  uint64_t total = 0, written = 0, dropped = 0;
  for (uint32_t api = 0; api < HUGESHIM_API_COUNT; ++api) {
    BOOST_TEST_CONTEXT("api " << api) {
      BOOST_TEST(h->counters[api].records_written + h->counters[api].records_dropped == h->counters[api].events);
    }
    total += h->counters[api].events;
    written += h->counters[api].records_written;
    dropped += h->counters[api].records_dropped;
  }
  BOOST_TEST(written == kRingSlots);  // nobody drains: the ring fills exactly once
  BOOST_TEST(dropped == total - kRingSlots);
  uint64_t small = 0;
  for (const auto& stripe : h->small_calls) small += stripe.calls[HUGESHIM_API_CUDA_HOST_ALLOC];
  BOOST_TEST(small == side_small);  // one thread counts them: no increment lost
  munmap(const_cast<hugeshim_ring_header*>(h), size);
}
