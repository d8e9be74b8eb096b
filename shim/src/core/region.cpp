// Region life cycle: allocate (cache or page-size ladder), resize in place,
// release (cache or unmap). Policy lives here; every OS call is in backing.
#include "core/region.h"

#include <cerrno>
#include <cstring>

#include "core/arena.h"
#include "core/fallback.h"
#include "core/region_cache.h"
#include "core/region_table.h"
#include "core/thp_health.h"
#include "hugeshim/options.h"
#include "os/backing.h"

namespace hugeshim {
namespace {

// What mapping a range produced.
struct LadderResult {
  uint32_t fallback = HUGESHIM_FALLBACK_NONE;
  int err = 0;
  bool ok = false;
};

void note_reason(LadderResult* res, uint32_t reason, int err) {
  if (res->fallback == HUGESHIM_FALLBACK_NONE) {
    res->fallback = reason;
    res->err = err;
  }
}

bool add_segment(Region* r, uint64_t offset, uint64_t len, uint32_t cls) {
  if (len == 0) return true;
  if (r->segment_count > 0) {
    Segment& last = r->segments[r->segment_count - 1];
    if (last.page_class == cls && last.offset + last.len == offset) {
      last.len += len;
      r->page_bytes[cls] += len;
      return true;
    }
  }
  if (r->segment_count == kMaxSegments) return false;
  r->segments[r->segment_count++] = Segment{offset, len, cls};
  r->page_bytes[cls] += len;
  return true;
}

// The map of [at, at + len) inside the region left a hole we could not
// re-reserve: unmap this call's segments (ours, so safe to map over), drop
// them, and record the lost range (region.h lost_len).
LadderResult lose_range(Region* r, uint8_t first_segment, LadderResult res, uintptr_t at, size_t len) {
  for (uint8_t s = first_segment; s < r->segment_count; ++s) {
    backing_unmap(r->base + r->segments[s].offset, r->segments[s].len);
    r->page_bytes[r->segments[s].page_class] -= r->segments[s].len;
  }
  r->segment_count = first_segment;
  r->lost_offset = at - r->base;
  r->lost_len = len;
  res.ok = false;
  if (res.fallback == HUGESHIM_FALLBACK_NONE) res.fallback = HUGESHIM_FALLBACK_MMAP_ERROR;
  res.err = EFAULT;
  return res;
}

// Maps [r->base + offset, r->base + offset + len) walking the ladder; offset is
// 2 MiB aligned. Appends segments. On failure nothing new stays mapped.
LadderResult map_ladder(Region* r, size_t offset, size_t len) {
  LadderResult res;
  const Options& o = g_options;
  uintptr_t at = r->base + offset;
  size_t left = len;
  uint8_t first_segment = r->segment_count;
  bool any_huge_rung_applied = false;

  if (o.ladder_len == 0) note_reason(&res, HUGESHIM_FALLBACK_NOT_IN_LADDER, 0);
  for (uint8_t i = 0; i < o.ladder_len && left > 0; ++i) {
    Rung rung = o.ladder[i];
    if (rung == Rung::thp) {
      if (left < kPage2M) continue;
      any_huge_rung_applied = true;
      if (!backing_thp_usable()) {
        note_reason(&res, HUGESHIM_FALLBACK_THP_DISABLED, 0);
        continue;
      }
      if (!thp_health_allows(left)) {
        note_reason(&res, HUGESHIM_FALLBACK_THP_FRAGMENTED, 0);
        continue;
      }
      int advise_err = 0;
      int err = backing_map_anon(at, left, true, &advise_err);
      if (err == kRangeLost) return lose_range(r, first_segment, res, at, left);
      if (err) {
        note_reason(&res, HUGESHIM_FALLBACK_MMAP_ERROR, err);
        continue;
      }
      size_t thp = left & ~(kPage2M - 1);
      uint32_t cls = advise_err ? HUGESHIM_PAGE_BASE : HUGESHIM_PAGE_THP;
      if (advise_err) note_reason(&res, HUGESHIM_FALLBACK_THP_DISABLED, advise_err);
      add_segment(r, at - r->base, thp, cls);
      add_segment(r, at - r->base + thp, left - thp, HUGESHIM_PAGE_BASE);
      at += left;
      left = 0;
      break;
    }
    size_t page = rung == Rung::hugetlb_1g ? kPage1G : kPage2M;
    uint32_t cls = rung == Rung::hugetlb_1g ? HUGESHIM_PAGE_1G : HUGESHIM_PAGE_2M;
    if (at % page) continue;  // 1 GiB pages need a 1 GiB aligned start
    size_t pages = left / page;
    if (pages == 0) continue;
    any_huge_rung_applied = true;
    if (r->segment_count >= kMaxSegments - 1) break;  // keep a segment for the tail
    int err = backing_map_hugetlb(at, pages * page, page);
    if (err == kRangeLost) return lose_range(r, first_segment, res, at, pages * page);
    if (err == ENOMEM) {
      // The pool may cover part of it: take what is there, the rest goes on.
      size_t avail = backing_hugetlb_available(page);
      note_reason(&res, HUGESHIM_FALLBACK_POOL_EMPTY, ENOMEM);
      if (avail == 0 || avail >= pages) continue;
      pages = avail;
      err = backing_map_hugetlb(at, pages * page, page);
      if (err == kRangeLost) return lose_range(r, first_segment, res, at, pages * page);
      if (err) continue;
    } else if (err) {
      note_reason(&res, err == EINVAL && rung == Rung::hugetlb_1g ? HUGESHIM_FALLBACK_POOL_EMPTY
                                                                  : HUGESHIM_FALLBACK_MMAP_ERROR,
                  err);
      continue;
    }
    add_segment(r, at - r->base, pages * page, cls);
    at += pages * page;
    left -= pages * page;
  }
  if (!any_huge_rung_applied && o.ladder_len > 0) note_reason(&res, HUGESHIM_FALLBACK_SIZE_BELOW_PAGE, 0);
  if (left > 0) {
    int advise_err = 0;
    int err = backing_map_anon(at, left, false, &advise_err);
    if (err == kRangeLost) return lose_range(r, first_segment, res, at, left);
    if (err || !add_segment(r, at - r->base, left, HUGESHIM_PAGE_BASE)) {
      // Undo this call's mappings; earlier segments stay.
      for (uint8_t s = first_segment; s < r->segment_count; ++s)
        r->page_bytes[r->segments[s].page_class] -= r->segments[s].len;
      r->segment_count = first_segment;
      backing_unmap(r->base + offset, len);
      res.err = err ? err : ENOMEM;
      return res;
    }
  }
  res.ok = true;
  return res;
}

void destroy(Region* r) {
  if (r->teardown) r->teardown(r);
  if (r->lost_len) {
    // Unmap all but the lost range (ours, around it); its granules are
    // dropped: the lost range may hold someone else's mapping.
    uintptr_t lost = r->base + r->lost_offset, lost_end = lost + r->lost_len;
    if (lost > r->base) backing_release(r->base, lost - r->base);
    if (lost_end < r->base + r->span) backing_release(lost_end, r->base + r->span - lost_end);
    arena_lock();
    region_table_set(r->base, r->span, nullptr);
    region_table_delete(r);
    arena_unlock();
    return;
  }
  // Pages and address space go back to the system outside the lock. The
  // table names r until the span is unmapped, so a stale pointer into it
  // (a racing double free) is refused, never passed to glibc.
  backing_release(r->base, r->span);
  arena_lock();
  region_table_set(r->base, r->span, nullptr);
  arena_give_unmapped(r->base, r->span);
  region_table_delete(r);
  arena_unlock();
}

void destroy_all(Region** regions, int n) {
  for (int i = 0; i < n; ++i) destroy(regions[i]);
}

void fill_event(const Region* r, Event* ev) {
  ev->address = r->base;
  ev->mapped = r->mapped;
  memcpy(ev->page_bytes, r->page_bytes, sizeof ev->page_bytes);
}

}  // namespace

Region* region_holding(const void* p) {
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  Region* r = region_table_get(a);
  if (r && r->lost_len && a - (r->base + r->lost_offset) < r->lost_len) return nullptr;
  return r;
}

Region* region_find(const void* p) {
  Region* r = region_holding(p);
  return r && !r->cached ? r : nullptr;
}

Region* region_allocate(const RegionRequest& req, Event* ev) {
  const Options& o = g_options;
  size_t align = req.align > kGranule ? req.align : kGranule;
  if (align > kPage1G) {
    ev->fallback = HUGESHIM_FALLBACK_ALIGNMENT;
    fallback_note(ev->fallback, 0, req.size);
    errno = EINVAL;
    return nullptr;
  }
  size_t mapped_need = round_up(req.size ? req.size : 1, kBasePage);
  if (mapped_need < req.size) {  // overflow
    errno = ENOMEM;
    return nullptr;
  }
  ev->numa_asked = req.numa_node >= 0 ? req.numa_node : -1;

  uint64_t t0 = now_ns();
  arena_lock();
  Region* cached = o.cache_bytes ? cache_take(req, mapped_need) : nullptr;
  if (cached) {
    arena_unlock();
    cached->size = req.size;
    // All of it, as glibc's calloc does: malloc_usable_size reports mapped.
    if (req.zero) memset(reinterpret_cast<void*>(cached->base), 0, cached->mapped);
    fill_event(cached, ev);
    ev->flags |= HUGESHIM_EVENT_FROM_CACHE;
    ev->phase_ns[HUGESHIM_PHASE_RESERVE] = now_ns() - t0;
    ev->numa_got = cached->populated ? backing_node_of(cached->base) : -1;
    return cached;
  }
  // 1 GiB pages need a 1 GiB aligned body: address space is cheap.
  if (o.ladder_has(Rung::hugetlb_1g) && mapped_need >= kPage1G) align = kPage1G;
  size_t span = round_up(mapped_need, kGranule);
  uintptr_t base = span >= mapped_need ? arena_take(span, align) : 0;
  Region* r = base ? region_table_new() : nullptr;
  if (r && !region_table_set(base, span, r)) {
    region_table_delete(r);
    r = nullptr;
  }
  if (!r) {
    if (base) arena_give(base, span);
    arena_unlock();
    ev->fallback = HUGESHIM_FALLBACK_ARENA_FULL;
    fallback_note(ev->fallback, 0, req.size);
    errno = ENOMEM;
    return nullptr;
  }
  r->base = base;
  r->span = span;
  r->size = req.size;
  r->origin = req.origin;
  r->numa_node = req.numa_node;
  arena_unlock();
  // A region the program faults in itself: the host's counters are the
  // only THP evidence (sampled at most once every 10 ms).
  if (!req.populate && o.ladder_has(Rung::thp)) thp_health_sample_vmstat();

  LadderResult lr = map_ladder(r, 0, mapped_need);
  r->mapped = lr.ok ? mapped_need : 0;
  ev->fallback = lr.fallback;
  ev->err = lr.err;
  bool refuse = lr.ok && lr.fallback != HUGESHIM_FALLBACK_NONE && o.on_fallback == OnFallback::fail;
  if (!lr.ok || refuse) {
    fallback_note(lr.fallback, lr.err, req.size);
    destroy(r);
    errno = ENOMEM;
    return nullptr;
  }
  uint64_t t1 = now_ns();
  ev->phase_ns[HUGESHIM_PHASE_RESERVE] = t1 - t0;

  if (req.numa_node != -1) {
    int err = backing_bind(base, mapped_need, req.numa_node);
    if (err) {
      if (ev->fallback == HUGESHIM_FALLBACK_NONE) ev->err = err;
      if (ev->fallback == HUGESHIM_FALLBACK_NONE) ev->fallback = HUGESHIM_FALLBACK_MBIND_FAILED;
    }
  }
  if (req.populate) {
    int err = backing_populate(base, mapped_need, o.prefault_threads);
    uint64_t t2 = now_ns();
    ev->phase_ns[HUGESHIM_PHASE_POPULATE] = t2 - t1;
    if (!err && !r->page_bytes[HUGESHIM_PAGE_1G] && !r->page_bytes[HUGESHIM_PAGE_2M])
      thp_health_after_populate(base, mapped_need, r->page_bytes[HUGESHIM_PAGE_THP], t2 - t1);
    t1 = now_ns();
    if (err && ev->fallback == HUGESHIM_FALLBACK_NONE) {
      ev->fallback = HUGESHIM_FALLBACK_POPULATE_FAILED;
      ev->err = err;
    }
    r->populated = !err;
    if (r->populated) ev->numa_got = backing_node_of(base);
  }
  if (req.lock) {
    int err = backing_lock(base, mapped_need);
    ev->phase_ns[HUGESHIM_PHASE_LOCK] = now_ns() - t1;
    if (err && ev->fallback == HUGESHIM_FALLBACK_NONE) {
      ev->fallback = HUGESHIM_FALLBACK_LOCK_FAILED;
      ev->err = err;
    }
    r->locked = !err;
  }
  fallback_note(ev->fallback, ev->err, req.size);
  fill_event(r, ev);
  return r;
}

void region_release(Region* r, Event* ev) {
  fill_event(r, ev);
  Region* evicted[16];
  int n = 0;
  bool kept = false;
  if (g_options.cache_bytes) {
    arena_lock();
    kept = cache_put(r, evicted, 16, &n);
    arena_unlock();
  }
  destroy_all(evicted, n);
  if (kept) {
    ev->flags |= HUGESHIM_EVENT_FROM_CACHE;  // went into the cache
    return;
  }
  destroy(r);
}

bool region_resize_in_place(Region* r, size_t new_size, Event* ev) {
  size_t new_mapped = round_up(new_size ? new_size : 1, kBasePage);
  if (new_mapped < new_size) return false;
  uint64_t t0 = now_ns();
  if (new_mapped <= r->mapped) {
    // Shrink: drop whole pages past the new end, page by page size.
    size_t keep = 0;
    uint8_t count = 0;
    for (uint8_t i = 0; i < r->segment_count; ++i) {
      Segment& s = r->segments[i];
      if (s.offset >= new_mapped) {
        r->page_bytes[s.page_class] -= s.len;
        continue;
      }
      count = i + 1;
      size_t page = s.page_class == HUGESHIM_PAGE_1G ? kPage1G
                    : s.page_class == HUGESHIM_PAGE_2M ? kPage2M
                                                       : kBasePage;
      size_t want = round_up(new_mapped - s.offset, page);
      if (want < s.len) {
        r->page_bytes[s.page_class] -= s.len - want;
        s.len = want;
      }
      keep = s.offset + s.len;
    }
    r->segment_count = count;
    if (keep < r->mapped) backing_unmap(r->base + keep, r->mapped - keep);
    r->mapped = keep;
    size_t new_span = round_up(keep, kGranule);
    if (new_span < r->span && !r->lost_len) {
      arena_lock();
      region_table_set(r->base + new_span, r->span - new_span, nullptr);
      arena_give(r->base + new_span, r->span - new_span);
      arena_unlock();
      r->span = new_span;
    }
    r->size = new_size;
  } else {
    // Grow: needs the address space right after the span, and no lost
    // range in the way (growth would map over it).
    size_t new_span = round_up(new_mapped, kGranule);
    if (new_span < new_mapped || r->lost_len) return false;
    if (new_span > r->span) {
      uintptr_t more = r->base + r->span;
      arena_lock();
      bool ok = arena_take_at(more, new_span - r->span);
      if (ok && !region_table_set(more, new_span - r->span, r)) {
        arena_give(more, new_span - r->span);
        ok = false;
      }
      arena_unlock();
      if (!ok) return false;
      r->span = new_span;  // a failed grow gives it back through the shrink path
    }
    // First fill up to the next 2 MiB boundary with the class of the last
    // segment's kind (anonymous), then walk the ladder from there.
    size_t end = r->mapped;
    size_t boundary = round_up(end, kPage2M);
    if (boundary > new_mapped) boundary = new_mapped;
    bool ok = true;
    if (boundary > end) {
      uint32_t cls = r->segment_count ? r->segments[r->segment_count - 1].page_class
                                      : static_cast<uint32_t>(HUGESHIM_PAGE_BASE);
      bool thp = cls == HUGESHIM_PAGE_THP;
      int advise_err = 0;
      int err = backing_map_anon(r->base + end, boundary - end, thp, &advise_err);
      if (err == kRangeLost) {
        r->lost_offset = end;
        r->lost_len = boundary - end;
      }
      ok = err == 0 && add_segment(r, end, boundary - end,
                                   thp && !advise_err ? HUGESHIM_PAGE_THP : HUGESHIM_PAGE_BASE);
    }
    LadderResult lr;
    lr.ok = true;
    if (ok && new_mapped > boundary) lr = map_ladder(r, boundary, new_mapped - boundary);
    // HUGESHIM_ON_FALLBACK=fail: growth that stepped down the ladder is
    // refused like a new allocation would be.
    bool refuse = lr.fallback != HUGESHIM_FALLBACK_NONE && g_options.on_fallback == OnFallback::fail;
    if (!ok || !lr.ok || refuse) {
      // Roll back to the old size (the shrink path trims what was added).
      size_t old_size = r->size;
      r->mapped = boundary > end && ok ? boundary : end;
      region_resize_in_place(r, old_size, ev);
      return false;
    }
    ev->fallback = lr.fallback;
    ev->err = lr.err;
    fallback_note(lr.fallback, lr.err, new_size);
    r->mapped = new_mapped;
    r->size = new_size;
    if (r->locked) backing_lock(r->base + end, new_mapped - end);
  }
  ev->flags |= HUGESHIM_EVENT_IN_PLACE;
  ev->phase_ns[HUGESHIM_PHASE_RESERVE] = now_ns() - t0;
  fill_event(r, ev);
  return true;
}

}  // namespace hugeshim
