// malloc_stress THREADS OPS LARGE_PERMILLE: each thread keeps 64 live blocks
// and makes OPS random malloc/calloc/realloc/free operations, small and large
// (LARGE_PERMILLE of them between 1 and 24 MiB). Every block carries a byte
// pattern that is checked before it is resized or freed. Exit status 0 when
// every check held, 1 on a mismatch (with a line on stderr).
//
// Output: "errors N", then "large_kb L huge_kb H". At 16 checkpoints of its
// run and at its end, each thread looks up its live blocks of 2 MiB or more
// in this process's /proc/self/smaps: L kB of such blocks seen in all, H kB
// of them on huge pages, hugetlb or advised for THP (the two ways the shim
// backs a large block). Each thread's sequence is seeded, so L is fixed by
// the arguments.
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>
#include <random>
#include <vector>

namespace {

struct Block {
  unsigned char* p = nullptr;
  size_t n = 0;
  unsigned char tag = 0;
};

constexpr size_t kStride = 64 * 1024;  // large blocks: one checked byte per stride
constexpr size_t k2MiB = 2u << 20;
constexpr long kCheckpoints = 16;

std::atomic<long> g_errors{0};
std::atomic<size_t> g_large_bytes{0}, g_huge_bytes{0};
long g_ops = 0;
int g_large_permille = 0;

// Writes the pattern: whole block when small; head, tail and one byte per
// stride when large (first touch of base pages is slow here).
void paint(const Block& b) {
  if (b.n <= 2 * 4096) {
    memset(b.p, b.tag, b.n);
    return;
  }
  memset(b.p, b.tag, 4096);
  memset(b.p + b.n - 4096, b.tag, 4096);
  for (size_t off = 4096; off < b.n - 4096; off += kStride) b.p[off] = b.tag;
}

bool verify(const Block& b, size_t n) {
  if (n <= 2 * 4096) {
    for (size_t i = 0; i < n; ++i)
      if (b.p[i] != b.tag) return false;
    return true;
  }
  for (size_t i = 0; i < 4096; ++i)
    if (b.p[i] != b.tag) return false;
  if (n == b.n)
    for (size_t i = n - 4096; i < n; ++i)
      if (b.p[i] != b.tag) return false;
  for (size_t off = 4096; off < n - 4096; off += kStride)
    if (b.p[off] != b.tag) return false;
  return true;
}

void fail(const char* what, int thread) {
  fprintf(stderr, "thread %d: pattern mismatch after %s\n", thread, what);
  g_errors.fetch_add(1);
}

// A mapping of /proc/self/smaps, huge when hugetlb ("ht") or advised for THP
// ("hg").
struct Vma {
  uintptr_t lo, hi;
  bool huge;
};

bool has_flag(const char* vm_flags_line, const char* flag) {
  for (const char* at = strstr(vm_flags_line, flag); at; at = strstr(at + 1, flag))
    if (at[-1] == ' ' && (at[2] == ' ' || at[2] == '\n' || at[2] == 0)) return true;
  return false;
}

std::vector<Vma> read_vmas() {
  std::vector<Vma> vmas;
  FILE* f = fopen("/proc/self/smaps", "r");
  if (!f) return vmas;
  char line[1024];
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) vmas.push_back({lo, hi, false});
    else if (!vmas.empty() && strncmp(line, "VmFlags:", 8) == 0)
      vmas.back().huge = has_flag(line, "ht") || has_flag(line, "hg");
  }
  fclose(f);
  return vmas;
}

// Adds up this thread's live large blocks, and their bytes on huge pages.
// Only this thread maps or unmaps its blocks, so they hold still while it
// looks.
void look_at_large_blocks(const Block* blocks, size_t count) {
  std::vector<Vma> vmas;
  for (size_t i = 0; i < count; ++i) {
    const Block& b = blocks[i];
    if (!b.p || b.n < k2MiB) continue;
    if (vmas.empty()) vmas = read_vmas();
    uintptr_t lo = reinterpret_cast<uintptr_t>(b.p), hi = lo + b.n;
    size_t huge = 0;
    for (const Vma& v : vmas)
      if (v.huge && v.lo < hi && v.hi > lo) huge += (v.hi < hi ? v.hi : hi) - (v.lo > lo ? v.lo : lo);
    g_large_bytes.fetch_add(b.n);
    g_huge_bytes.fetch_add(huge);
  }
}

void* worker(void* arg) {
  int id = static_cast<int>(reinterpret_cast<intptr_t>(arg));
  std::mt19937_64 rng(1234 + id);
  Block blocks[64];
  auto size_for = [&](void) -> size_t {
    if (static_cast<int>(rng() % 1000) < g_large_permille) return (1 + rng() % 24) << 20;
    return 1 + rng() % 4096;
  };
  const long checkpoint = g_ops / kCheckpoints > 0 ? g_ops / kCheckpoints : 1;
  for (long op = 0; op < g_ops; ++op) {
    if (op % checkpoint == checkpoint - 1) look_at_large_blocks(blocks, 64);
    Block& b = blocks[rng() % 64];
    unsigned char tag = static_cast<unsigned char>(1 + (op + id) % 250);
    int kind = static_cast<int>(rng() % 4);
    if (!b.p) {
      size_t n = size_for();
      b.p = static_cast<unsigned char*>(kind == 0 ? calloc(1, n) : malloc(n));
      if (!b.p) {
        fprintf(stderr, "thread %d: allocation of %zu failed\n", id, n);
        g_errors.fetch_add(1);
        continue;
      }
      if (kind == 0) {
        Block zero{b.p, n, 0};
        if (!verify(zero, n)) fail("calloc", id);
      }
      b.n = n;
      b.tag = tag;
      paint(b);
    } else if (kind == 1) {
      size_t n = size_for();
      if (!verify(b, b.n)) fail("realloc (before)", id);
      auto* q = static_cast<unsigned char*>(realloc(b.p, n));
      if (!q) {
        g_errors.fetch_add(1);
        continue;
      }
      Block moved{q, b.n, b.tag};
      size_t kept = n < b.n ? n : b.n;
      // The preserved prefix must still carry the old pattern.
      if (kept <= 2 * 4096 || kept == b.n) {
        if (!verify(moved, kept)) fail("realloc (after)", id);
      } else {
        Block head{q, kept, b.tag};
        for (size_t i = 0; i < 4096; ++i)
          if (head.p[i] != b.tag) {
            fail("realloc (after)", id);
            break;
          }
      }
      b.p = q;
      b.n = n;
      b.tag = tag;
      paint(b);
    } else {
      if (!verify(b, b.n)) fail("free", id);
      free(b.p);
      b.p = nullptr;
    }
  }
  look_at_large_blocks(blocks, 64);
  for (Block& b : blocks)
    if (b.p) {
      if (!verify(b, b.n)) fail("final", id);
      free(b.p);
    }
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: malloc_stress THREADS OPS LARGE_PERMILLE\n");
    return 2;
  }
  int threads = atoi(argv[1]);
  g_ops = atol(argv[2]);
  g_large_permille = atoi(argv[3]);
  pthread_t tids[256];
  for (int i = 0; i < threads && i < 256; ++i)
    pthread_create(&tids[i], nullptr, worker, reinterpret_cast<void*>(static_cast<intptr_t>(i)));
  for (int i = 0; i < threads && i < 256; ++i) pthread_join(tids[i], nullptr);
  long errors = g_errors.load();
  printf("errors %ld\nlarge_kb %zu huge_kb %zu\n", errors, g_large_bytes.load() / 1024, g_huge_bytes.load() / 1024);
  return errors ? 1 : 0;
}
