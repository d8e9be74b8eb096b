// Programs for the arena address-space tests (issue 11, item 4), one per
// subcommand, each printing one line ("ok ..." or "FAIL ...") and exiting 0
// only when the program gets what the kernel gives it without the shim. Run
// under the shim by arena_space_test with HUGESHIM_CACHE=0 (a freed block's
// address space is then given back at once) and HUGESHIM_MIN_SIZE=4MiB.
//
// The probe finds arena address space the way a program could: it frees a
// block the shim served (2 MiB aligned, which glibc's blocks never are) and
// uses that address, which is free address space as far as it knows.
#include <errno.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

namespace {

constexpr size_t kMiB = size_t{1} << 20;
constexpr size_t kGiB = size_t{1} << 30;
constexpr size_t kBlock = 32 * kMiB;

int fail(const char* what) {
  std::printf("FAIL %s (errno %d)\n", what, errno);
  return 1;
}

uintptr_t addr(const void* p) { return reinterpret_cast<uintptr_t>(p); }
bool served_by_shim(const void* p) { return p && addr(p) % (2 * kMiB) == 0; }
bool overlaps(const void* p, size_t n, const void* q, size_t m) {
  return addr(p) < addr(q) + m && addr(q) < addr(p) + n;
}

// One byte per 2 MiB and the last byte: a range replaced by a new mapping
// (which reads zero) loses at least one of them.
void stamp(void* p, size_t n, unsigned char seed) {
  auto* b = static_cast<unsigned char*>(p);
  for (size_t off = 0; off < n; off += 2 * kMiB) b[off] = static_cast<unsigned char>(seed + off / (2 * kMiB));
  b[n - 1] = seed;
}
bool stamped(const void* p, size_t n, unsigned char seed) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (size_t off = 0; off < n; off += 2 * kMiB)
    if (b[off] != static_cast<unsigned char>(seed + off / (2 * kMiB))) return false;
  return b[n - 1] == seed;
}

// Whether the page holding p is mapped at all.
bool page_mapped(const void* p) {
  unsigned char v;
  return mincore(reinterpret_cast<void*>(addr(p) & ~uintptr_t{4095}), 4096, &v) == 0;
}

// Arena address space the program may take: a block the shim served, freed.
// `keep` (the block below it) stays allocated, so the freed one has a
// neighbour and is not the arena's first granule.
void* freed_arena_block(void** keep) {
  *keep = std::malloc(kBlock);
  void* b = std::malloc(kBlock);
  if (!served_by_shim(*keep) || !served_by_shim(b)) return nullptr;
  std::free(b);
  return b;
}

// The next eight malloc(32 MiB) after the program mapped MAP_FIXED where a
// freed block was: its mapping must keep its contents, and the blocks must
// still come from the shim, elsewhere.
int map_fixed() {
  void* keep;
  void* x = freed_arena_block(&keep);
  if (!x) return fail("malloc(32 MiB) was not served by the shim");
  const size_t len = 256 * kMiB;
  void* m = mmap(x, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (m != x) return fail("MAP_FIXED mapping");
  stamp(m, len, 0x41);
  void* blocks[8];
  for (int i = 0; i < 8; ++i) {
    blocks[i] = std::malloc(kBlock);
    if (!blocks[i]) return fail("malloc(32 MiB) after the MAP_FIXED mapping");
    std::memset(blocks[i], 0x77, kMiB);
    if (overlaps(blocks[i], kBlock, m, len)) {
      std::printf("FAIL malloc(32 MiB) #%d at %p lies inside the program's MAP_FIXED mapping [%p, +256 MiB)\n", i,
                  blocks[i], m);
      return 1;
    }
    if (!served_by_shim(blocks[i])) return fail("malloc(32 MiB) after the MAP_FIXED mapping not served by the shim");
  }
  if (!stamped(m, len, 0x41)) return fail("the MAP_FIXED mapping lost its contents");
  for (void* b : blocks) std::free(b);
  std::free(keep);
  std::printf("ok MAP_FIXED at %p kept its contents over 8 x malloc(32 MiB)\n", m);
  return 0;
}

// MAP_FIXED_NOREPLACE where a freed block was: the kernel would map it.
int noreplace() {
  void* keep;
  void* x = freed_arena_block(&keep);
  if (!x) return fail("malloc(32 MiB) was not served by the shim");
  void* m = mmap(x, 8 * kMiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (m == MAP_FAILED) {
    std::printf("FAIL MAP_FIXED_NOREPLACE at free address %p: %s\n", x, std::strerror(errno));
    return 1;
  }
  if (m != x) return fail("MAP_FIXED_NOREPLACE mapped elsewhere");
  stamp(m, 8 * kMiB, 0x52);
  void* more = std::malloc(kBlock);
  if (!served_by_shim(more) || overlaps(more, kBlock, m, 8 * kMiB)) return fail("next malloc(32 MiB)");
  if (!stamped(m, 8 * kMiB, 0x52)) return fail("the NOREPLACE mapping lost its contents");
  std::printf("ok MAP_FIXED_NOREPLACE at %p\n", m);
  return 0;
}

// A hint at the address of a freed block: the kernel honours a hint at free
// address space. (1 MiB goes straight to the kernel; 16 MiB through the
// shim's own mmap, which keeps hints.)
int hint(size_t len) {
  void* keep;
  void* x = freed_arena_block(&keep);
  if (!x) return fail("malloc(32 MiB) was not served by the shim");
  void* m = mmap(x, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return fail("hinted mmap");
  if (m != x) {
    std::printf("FAIL hint %p (free address space) was moved to %p\n", x, m);
    return 1;
  }
  stamp(m, len, 0x63);
  void* more = std::malloc(kBlock);
  if (!served_by_shim(more) || overlaps(more, kBlock, m, len)) return fail("next malloc(32 MiB)");
  if (!stamped(m, len, 0x63)) return fail("the hinted mapping lost its contents");
  std::printf("ok hint %p honoured for %zu MiB\n", m, len / kMiB);
  return 0;
}

long vm_size_kb() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmSize: %ld kB", &kb) == 1) break;
  std::fclose(f);
  return kb;
}

// Under RLIMIT_AS = 100 GiB (set here, then the probe runs itself again so
// the shim loads under it), the program reserves 80 GiB of address space and
// still gets large blocks from the shim.
int rlimit_as(char** argv) {
  const rlim_t limit = 100 * rlim_t{kGiB};
  rlimit rl;
  if (getrlimit(RLIMIT_AS, &rl) != 0) return fail("getrlimit");
  if (rl.rlim_cur != limit) {
    rl.rlim_cur = limit;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < limit) return fail("hard RLIMIT_AS below 100 GiB");
    if (setrlimit(RLIMIT_AS, &rl) != 0) return fail("setrlimit");
    execv("/proc/self/exe", argv);
    return fail("execv");
  }
  long vm_start = vm_size_kb();
  void* big = mmap(nullptr, 80 * kGiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (big == MAP_FAILED) {
    std::printf("FAIL mmap(80 GiB, PROT_NONE, MAP_NORESERVE) under RLIMIT_AS 100 GiB: %s (VmSize at start %ld kB)\n",
                std::strerror(errno), vm_start);
    return 1;
  }
  void* blocks[4];
  for (void*& b : blocks) {
    b = std::malloc(64 * kMiB);
    if (!served_by_shim(b)) {
      std::printf("FAIL malloc(64 MiB) next to the 80 GiB reservation: %p, not from the shim\n", b);
      return 1;
    }
    stamp(b, 64 * kMiB, 0x17);
  }
  for (void* b : blocks)
    if (!stamped(b, 64 * kMiB, 0x17)) return fail("block contents");
  for (void* b : blocks) std::free(b);
  std::printf("ok 80 GiB reserved and 4 x malloc(64 MiB) from the shim under RLIMIT_AS 100 GiB (VmSize at start %ld kB)\n",
              vm_start);
  return 0;
}

// Fills every gap of 4 KiB or more above `floor` with inaccessible address
// space (raw system calls: the shim's mmap stays out of it), so the kernel's
// next top-down placement lands at or below floor.
void fill_address_space_above(uintptr_t floor) {
  for (int shift = 46; shift >= 12; --shift) {
    const size_t size = size_t{1} << shift;
    for (;;) {
      long q = syscall(SYS_mmap, nullptr, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (q == -1) break;
      if (static_cast<uintptr_t>(q) >= floor) continue;
      syscall(SYS_munmap, q, size);
      break;
    }
  }
}

// A block glibc maps where the shim's arena lies (the kernel puts glibc's
// mmap there once the address space above is used up): free, realloc and
// malloc_usable_size of it are glibc's business, as without the shim.
int glibc_in_window() {
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);  // fixed: 1 MiB blocks are glibc mmaps
  void* keep;
  void* x = freed_arena_block(&keep);
  if (!x) return fail("malloc(32 MiB) was not served by the shim");
  fill_address_space_above(addr(x) + 2 * kMiB);
  // No allocation in between: the block must be the next mapping placed.
  void* g = std::malloc(kMiB);
  if (!g) return fail("malloc(1 MiB)");
  if (addr(g) < addr(x) || addr(g) >= addr(x) + kBlock) {
    std::printf("FAIL glibc's 1 MiB block landed at %p, not in the freed arena block [%p, +32 MiB)\n", g, x);
    return 1;
  }
  std::memset(g, 0x5a, kMiB);
  size_t usable = malloc_usable_size(g);
  if (usable < kMiB) {
    std::printf("FAIL malloc_usable_size(%p) = %zu for glibc's 1 MiB block\n", g, usable);
    return 1;
  }
  errno = 0;
  auto* h = static_cast<unsigned char*>(std::realloc(g, kMiB + kMiB / 2));
  if (!h) return fail("realloc of glibc's block");
  for (size_t i = 0; i < kMiB; ++i)
    if (h[i] != 0x5a) return fail("realloc lost the contents");
  std::free(h);
  // glibc unmaps a freed mmap block at once; an ignored free keeps it.
  if (page_mapped(h)) {
    std::printf("FAIL free(%p) of glibc's block did not reach glibc (still mapped)\n", static_cast<void*>(h));
    return 1;
  }
  void* after = std::malloc(kBlock);
  if (!after) return fail("malloc(32 MiB) once the address space is used up");
  std::memset(after, 1, kBlock);
  std::free(after);
  std::printf("ok glibc block %p in the arena window: usable %zu, realloc and free went to glibc\n", g, usable);
  return 0;
}

// Growing a block in place must stop at a mapping the program made right
// after it: realloc moves the block instead and both keep their contents.
int grow_past_program_mapping() {
  void* a = std::malloc(8 * kMiB);
  void* b = std::malloc(8 * kMiB);
  if (!served_by_shim(a) || !served_by_shim(b)) return fail("malloc(8 MiB) was not served by the shim");
  if (addr(b) != addr(a) + 8 * kMiB) {
    std::printf("ok (not applicable: the second block is not right after the first)\n");
    return 0;
  }
  std::free(b);
  void* m = mmap(b, 2 * kMiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (m != b) return fail("MAP_FIXED_NOREPLACE right after a block");
  stamp(m, 2 * kMiB, 0x2b);
  stamp(a, 8 * kMiB, 0x3c);
  void* grown = std::realloc(a, 64 * kMiB);
  if (!grown) return fail("realloc to 64 MiB");
  if (overlaps(grown, 64 * kMiB, m, 2 * kMiB)) return fail("the grown block covers the program's mapping");
  if (!stamped(m, 2 * kMiB, 0x2b)) return fail("the program's mapping lost its contents");
  if (!stamped(grown, 8 * kMiB, 0x3c)) return fail("the grown block lost its contents");
  std::free(grown);
  std::printf("ok realloc moved the block (%p -> %p) past the program's mapping\n", a, grown);
  return 0;
}

// free() twice of a block the shim served and gave back: glibc alone would
// crash reading the chunk header of unmapped memory; the shim says so and
// keeps the program running (a regression guard, not a change).
int double_free() {
  void* p = std::malloc(kBlock);
  if (!served_by_shim(p)) return fail("malloc(32 MiB) was not served by the shim");
  std::free(p);
  std::free(p);
  std::printf("ok survived the second free\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "map-fixed") return map_fixed();
  if (cmd == "noreplace") return noreplace();
  if (cmd == "hint" && argc == 3) return hint(std::strtoul(argv[2], nullptr, 10) * kMiB);
  if (cmd == "rlimit-as") return rlimit_as(argv);
  if (cmd == "glibc-in-window") return glibc_in_window();
  if (cmd == "grow-past-program-mapping") return grow_past_program_mapping();
  if (cmd == "double-free") return double_free();
  std::fprintf(stderr,
               "usage: arena_space_probe map-fixed | noreplace | hint MIB | rlimit-as | glibc-in-window |"
               " grow-past-program-mapping | double-free\n");
  return 2;
}
