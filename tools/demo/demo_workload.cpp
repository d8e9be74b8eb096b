// hugeshim-demo-workload COUNT SIZE_MIB: allocates COUNT buffers of SIZE_MIB,
// writes every byte, reads them back, frees them, and prints one line:
//   "allocate+touch S s, free S s, backing: 2M=X MiB thp=Y MiB base=Z MiB"
// with the backing read from /proc/self/smaps while the buffers are live.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cstdint>
#include <vector>

namespace {

double now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Backing {
  uint64_t hugetlb_kb = 0, thp_kb = 0, rss_kb = 0;
};

// Sums the smaps of every VMA that overlaps one of the buffers.
Backing backing_of(const std::vector<unsigned char*>& bufs, size_t size) {
  Backing b;
  FILE* f = fopen("/proc/self/smaps", "r");
  if (!f) return b;
  char line[512];
  bool in = false;
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    char perms[8];
    if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3) {
      in = false;
      for (unsigned char* p : bufs) {
        auto a = reinterpret_cast<uintptr_t>(p);
        if (lo < a + size && hi > a) in = true;
      }
      continue;
    }
    if (!in) continue;
    unsigned long v;
    if (sscanf(line, "Private_Hugetlb: %lu kB", &v) == 1) b.hugetlb_kb += v;
    else if (sscanf(line, "AnonHugePages: %lu kB", &v) == 1) b.thp_kb += v;
    else if (sscanf(line, "Rss: %lu kB", &v) == 1) b.rss_kb += v;
  }
  fclose(f);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: hugeshim-demo-workload COUNT SIZE_MIB\n");
    return 2;
  }
  int count = atoi(argv[1]);
  size_t size = static_cast<size_t>(atol(argv[2])) << 20;
  std::vector<unsigned char*> bufs;
  double t0 = now();
  for (int i = 0; i < count; ++i) {
    auto* p = static_cast<unsigned char*>(malloc(size));
    if (!p) {
      fprintf(stderr, "malloc(%zu) failed\n", size);
      return 1;
    }
    memset(p, i + 1, size);
    bufs.push_back(p);
  }
  double t1 = now();
  Backing b = backing_of(bufs, size);
  uint64_t sum = 0;
  for (int i = 0; i < count; ++i)
    for (size_t off = 0; off < size; off += 4096) sum += bufs[i][off];
  double t2 = now();
  for (unsigned char* p : bufs) free(p);
  double t3 = now();
  uint64_t expect = 0;
  for (int i = 0; i < count; ++i) expect += static_cast<uint64_t>((i + 1) & 0xff) * (size / 4096);
  uint64_t base_kb = b.rss_kb > b.thp_kb ? b.rss_kb - b.thp_kb : 0;
  printf("allocate+touch %.3f s, read %.3f s, free %.3f s, backing: 2M-hugetlb=%llu MiB thp=%llu MiB base=%llu MiB, data %s\n",
         t1 - t0, t2 - t1, t3 - t2, static_cast<unsigned long long>(b.hugetlb_kb >> 10),
         static_cast<unsigned long long>(b.thp_kb >> 10), static_cast<unsigned long long>(base_kb >> 10),
         sum == expect ? "ok" : "MISMATCH");
  return sum == expect ? 0 : 1;
}
