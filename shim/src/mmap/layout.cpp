#include "mmap/layout.h"

#include <cerrno>
#include <cstring>

#include "os/os.h"

namespace hugeshim {
namespace {

// Runs f with the program's errno saved and restored; returns f's errno value.
template <typename F>
int keeping_errno(F f) {
  int saved = errno;
  int err = f();
  errno = saved;
  return err;
}

// Moves the filled copy at tmp over [dst, dst + len). If the move fails, the
// kernel may already have unmapped the destination: put the bytes back there
// (only if the hole is still free), so the program loses nothing.
int move_over(void* tmp, uintptr_t dst, size_t len, int prot) {
  if (os_mremap(tmp, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, as_ptr(dst)) != MAP_FAILED) return 0;
  int err = errno;
  void* back = os_mmap(as_ptr(dst), len, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (back == as_ptr(dst)) {
    os_mprotect(tmp, len, PROT_READ);
    memcpy(back, tmp, len);
    os_mprotect(back, len, prot);
  } else if (back != MAP_FAILED) {
    os_munmap(back, len);  // a kernel that took it as a hint
  }
  os_munmap(tmp, len);
  return err;
}

}  // namespace

int layout_map_thp(size_t len, int prot, int flags, uintptr_t phase, uintptr_t* out, int* advise_err) {
  return keeping_errno([&] {
    size_t span = len + kPage2M;
    if (span < len) return ENOMEM;
    void* raw = os_mmap(nullptr, span, prot, flags, -1, 0);
    if (raw == MAP_FAILED) return errno;
    uintptr_t lo = as_addr(raw);
    uintptr_t start = round_down(lo, kPage2M) + (phase & (kPage2M - 1));
    if (start < lo) start += kPage2M;
    if (start > lo) os_munmap(raw, start - lo);
    if (lo + span > start + len) os_munmap(as_ptr(start + len), lo + span - (start + len));
    *advise_err = os_madvise(as_ptr(start), len, MADV_HUGEPAGE) == 0 ? 0 : errno;
    *out = start;
    return 0;
  });
}

int layout_map_hugetlb(size_t len, uintptr_t* out, uintptr_t* huge_lo, size_t* huge_bytes) {
  return keeping_errno([&] {
    size_t body = round_down(len, kPage2M), head = len - body;
    if (body == 0) return EINVAL;
    // The kernel aligns a hugetlb mapping to its page size by itself. No
    // MAP_FIXED anywhere: a MAP_FIXED that fails may already have unmapped
    // its range, and another thread's new mapping could land in that hole
    // before a cleanup unmaps it again.
    void* huge = os_mmap(nullptr, body, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (21 << MAP_HUGE_SHIFT), -1, 0);
    if (huge == MAP_FAILED) return errno;
    uintptr_t h = as_addr(huge);
    if (head) {
      // Base pages just below the body: new mappings are placed top-down, so
      // the space under one is usually free. NOREPLACE never unmaps anything.
      void* p = os_mmap(as_ptr(h - head), head, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
      if (p != as_ptr(h - head)) {
        int err = p == MAP_FAILED ? errno : EEXIST;
        if (p != MAP_FAILED) os_munmap(p, head);  // a kernel that took it as a hint
        os_munmap(huge, body);
        return err;
      }
    }
    *out = h - head;
    *huge_lo = h;
    *huge_bytes = body;
    return 0;
  });
}

int layout_demote_page(uintptr_t page, int prot) {
  return keeping_errno([&] {
    void* tmp = os_mmap(nullptr, kPage2M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (tmp == MAP_FAILED) return errno;
    memcpy(tmp, as_ptr(page), kPage2M);
    if (prot != (PROT_READ | PROT_WRITE) && os_mprotect(tmp, kPage2M, prot) != 0) {
      int err = errno;
      os_munmap(tmp, kPage2M);
      return err;
    }
    return move_over(tmp, page, kPage2M, prot);
  });
}

int layout_consolidate(MappedRange& r) {
  if (r.kind == MapKind::thp) return 0;
  size_t len = r.hi - r.lo;
  uintptr_t tmp;
  int advise_err;
  int err = layout_map_thp(len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, r.lo, &tmp, &advise_err);
  if (err) return err;
  return keeping_errno([&] {
    // A whole-range mprotect may have left it unreadable: read access for the
    // copy (the final protection is set on the new mapping below).
    if (!(r.prot & PROT_READ) && os_mprotect(as_ptr(r.lo), len, PROT_READ) != 0) {
      int e = errno;
      os_munmap(as_ptr(tmp), len);
      return e;
    }
    memcpy(as_ptr(tmp), as_ptr(r.lo), len);
    int e = 0;
    if (r.prot != (PROT_READ | PROT_WRITE) && os_mprotect(as_ptr(tmp), len, r.prot) != 0) {
      e = errno;
      os_munmap(as_ptr(tmp), len);
    } else {
      e = move_over(as_ptr(tmp), r.lo, len, r.prot);
    }
    if (e) {
      if (!(r.prot & PROT_READ)) os_mprotect(as_ptr(r.lo), len, r.prot);  // as it was
      return e;
    }
    r.kind = MapKind::thp;
    r.huge_lo = r.huge_hi = 0;
    r.rest_thp = true;
    return 0;
  });
}

int layout_prepare_cut(MappedRange& r, uintptr_t cut) {
  if (cut <= r.huge_lo || cut >= r.huge_hi || cut % kPage2M == 0) return 0;
  uintptr_t page = round_down(cut, kPage2M);
  return layout_demote_page(page, r.prot);
}

}  // namespace hugeshim
