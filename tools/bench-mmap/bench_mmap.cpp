// bench-mmap FILE read|mlock [shared]
//
// Maps FILE read-only (MAP_PRIVATE, or MAP_SHARED as safetensors loaders do)
// and then either reads every byte (summing 64-bit words) or mlocks the
// mapping. Prints one line of key=value pairs, seconds as decimals:
//   map_s=... access_s=... total_s=... checksum=...
// Under LD_PRELOAD=libhugeshim.so HUGESHIM_FILE_MAP=copy the copy happens in
// mmap itself, so map_s holds the load and access_s what is left.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

uint64_t sum_words(const unsigned char* p, size_t n) {
  uint64_t sum = 0;
  size_t words = n / 8;
  const uint64_t* w = reinterpret_cast<const uint64_t*>(p);
  for (size_t i = 0; i < words; ++i) sum += w[i];
  for (size_t i = words * 8; i < n; ++i) sum += p[i];
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || (strcmp(argv[2], "read") && strcmp(argv[2], "mlock"))) {
    fprintf(stderr, "usage: bench-mmap FILE read|mlock [shared]\n");
    return 2;
  }
  bool shared = argc > 3 && !strcmp(argv[3], "shared");
  int fd = open(argv[1], O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    perror(argv[1]);
    return 1;
  }
  size_t len = static_cast<size_t>(st.st_size);
  auto t0 = std::chrono::steady_clock::now();
  void* p = mmap(nullptr, len, PROT_READ, shared ? MAP_SHARED : MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  double map_s = seconds_since(t0);
  auto t1 = std::chrono::steady_clock::now();
  uint64_t checksum = 0;
  if (!strcmp(argv[2], "read")) {
    checksum = sum_words(static_cast<const unsigned char*>(p), len);
  } else if (mlock(p, len) != 0) {
    perror("mlock");
    return 1;
  }
  double access_s = seconds_since(t1);
  double total_s = seconds_since(t0);
  printf("map_s=%.6f access_s=%.6f total_s=%.6f checksum=%llu\n", map_s, access_s, total_s,
         static_cast<unsigned long long>(checksum));
  munmap(p, len);
  close(fd);
  return 0;
}
