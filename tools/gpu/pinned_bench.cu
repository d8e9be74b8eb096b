// Pinned host memory measurements for tools/gpu-check.sh. Linked against the
// shared cudart (-cudart shared) so LD_PRELOAD=libhugeshim.so can interpose.
// Each mode prints one JSON object on stdout; the script runs it once natively
// and once under the shim and compares. The "run" field is "shim" when
// LD_PRELOAD names hugeshim, else "native"; PINNED_BENCH_RUN overrides it.
//
//   pinned_bench alloc BYTES            cudaHostAlloc/cudaFreeHost time, H2D/D2H
//                                       bandwidth, round-trip check
//   pinned_bench windows BYTES STEP     copies and zero-copy reads of 64 MiB
//                                       windows centred on every multiple of
//                                       STEP inside one allocation, and the API
//                                       semantics seen on the memory (answers
//                                       and the last-error state they leave)
//   pinned_bench stall BYTES            p50/p99/max of a small H2D + kernel loop
//                                       on another thread while BYTES are pinned
//   pinned_bench pin BYTES [key=value...]
//                                       cudaHostAlloc and cudaFreeHost of BYTES
//                                       and nothing else (the cold/warm rounds and
//                                       process A of decode_neighbour.py): times
//                                       and CLOCK_MONOTONIC windows of both calls
//   pinned_bench copies MAX [memory=hostalloc|register|pageable] [key=value...]
//                                       H2D/D2H bandwidth (best of several copies)
//                                       and every byte checked, for 64 KiB, 256 KiB,
//                                       ... up to MAX inside one buffer of MAX bytes:
//                                       cudaHostAlloc memory (hostalloc), or an
//                                       anonymous mmap the program registers with
//                                       cudaHostRegister (register; under the shim
//                                       with HUGESHIM_PREPARE=auto: prepared), or
//                                       the same mmap not registered (pageable: the
//                                       driver stages every copy)
//   pinned_bench register BYTES [key=value...]
//                                       one cudaHostRegister of an anonymous mmap
//                                       of BYTES (not touched before: the call pins
//                                       every page; under the shim with
//                                       HUGESHIM_PREPARE=auto, prepared) and its
//                                       cudaHostUnregister, timed, with their
//                                       CLOCK_MONOTONIC windows (test dma_register)
//
// keys (pin, copies, register): round=N phase=cold|warm|dma|... are echoed in the JSON line.
#include <cuda_runtime.h>
#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    printf("{\"error\":\"%s: %s (%d)\"}\n", what, cudaGetErrorString(e), static_cast<int>(e));
    exit(2);
  }
}

// The expected 64-bit word at index i (splitmix64): position dependent, so
// data landing at a wrong offset is caught.
__host__ __device__ inline uint64_t pattern(uint64_t i) {
  uint64_t z = i + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

unsigned host_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n < 1 ? 1 : n > 16 ? 16 : n;
}

template <typename F>
void parallel_words(size_t words, F f) {
  unsigned n = host_threads();
  std::vector<std::thread> ts;
  size_t per = (words + n - 1) / n;
  for (unsigned t = 0; t < n; ++t)
    ts.emplace_back([=] {
      size_t lo = t * per, hi = std::min(words, lo + per);
      for (size_t i = lo; i < hi; ++i) f(i);
    });
  for (auto& t : ts) t.join();
}

void fill(uint64_t* w, size_t words, uint64_t first) {
  parallel_words(words, [=](size_t i) { w[i] = pattern(first + i); });
}

uint64_t count_mismatches(const uint64_t* w, size_t words, uint64_t first) {
  std::atomic<uint64_t> bad{0};
  unsigned n = host_threads();
  std::vector<std::thread> ts;
  size_t per = (words + n - 1) / n;
  for (unsigned t = 0; t < n; ++t)
    ts.emplace_back([&, t] {
      uint64_t local = 0;
      size_t lo = t * per, hi = std::min(words, lo + per);
      for (size_t i = lo; i < hi; ++i) local += w[i] != pattern(first + i);
      bad += local;
    });
  for (auto& t : ts) t.join();
  return bad.load();
}

__global__ void device_mismatches(const uint64_t* w, size_t words, uint64_t first,
                                  unsigned long long* bad) {
  unsigned long long local = 0;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < words;
       i += (size_t)gridDim.x * blockDim.x)
    local += w[i] != pattern(first + i);
  if (local) atomicAdd(bad, local);
}

unsigned long long mismatches_on_device(const void* p, size_t bytes, uint64_t first_word) {
  unsigned long long* bad;
  check(cudaMalloc(&bad, sizeof *bad), "cudaMalloc(counter)");
  check(cudaMemset(bad, 0, sizeof *bad), "cudaMemset");
  device_mismatches<<<1024, 256>>>(static_cast<const uint64_t*>(p), bytes / 8, first_word, bad);
  check(cudaGetLastError(), "launch");
  check(cudaDeviceSynchronize(), "sync");
  unsigned long long h = 0;
  check(cudaMemcpy(&h, bad, sizeof h, cudaMemcpyDeviceToHost), "cudaMemcpy(counter)");
  cudaFree(bad);
  return h;
}

// Best of `reps` timed copies, in GB/s (1e9 bytes).
double copy_gbps(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, int reps) {
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  float best = 1e30f;
  for (int r = 0; r < reps; ++r) {
    cudaEventRecord(a);
    check(cudaMemcpyAsync(dst, src, bytes, kind, 0), "cudaMemcpyAsync");
    cudaEventRecord(b);
    check(cudaEventSynchronize(b), "cudaEventSynchronize");
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    best = std::min(best, ms);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return bytes / (best * 1e-3) / 1e9;
}

const char* run_label() {
  const char* run = getenv("PINNED_BENCH_RUN");
  if (run && *run) return run;
  const char* p = getenv("LD_PRELOAD");
  return p && strstr(p, "hugeshim") ? "shim" : "native";
}

int mode_alloc(size_t bytes) {
  check(cudaFree(nullptr), "context");
  void* d = nullptr;
  check(cudaMalloc(&d, bytes), "cudaMalloc");
  void* h = nullptr;
  auto t0 = Clock::now();
  check(cudaHostAlloc(&h, bytes, cudaHostAllocDefault), "cudaHostAlloc");
  double alloc_s = seconds_since(t0);
  size_t words = bytes / 8;
  auto* w = static_cast<uint64_t*>(h);
  t0 = Clock::now();
  fill(w, words, 0);
  double fill_s = seconds_since(t0);
  double h2d = copy_gbps(d, h, bytes, cudaMemcpyHostToDevice, 2);
  unsigned long long device_bad = mismatches_on_device(d, bytes, 0);
  parallel_words(words, [=](size_t i) { w[i] = 0; });
  double d2h = copy_gbps(h, d, bytes, cudaMemcpyDeviceToHost, 2);
  uint64_t host_bad = count_mismatches(w, words, 0);
  unsigned flags = 99;
  cudaError_t fe = cudaHostGetFlags(&flags, h);
  cudaGetLastError();
  t0 = Clock::now();
  check(cudaFreeHost(h), "cudaFreeHost");
  double free_s = seconds_since(t0);
  cudaFree(d);
  printf("{\"test\":\"alloc\",\"run\":\"%s\",\"bytes\":%zu,\"alloc_s\":%.6f,\"free_s\":%.6f,"
         "\"fill_s\":%.6f,\"h2d_gbps\":%.3f,\"d2h_gbps\":%.3f,\"mismatches\":%llu,"
         "\"get_flags_rc\":%d,\"flags\":%u}\n",
         run_label(), bytes, alloc_s, free_s, fill_s, h2d, d2h,
         device_bad + static_cast<unsigned long long>(host_bad), static_cast<int>(fe), flags);
  return 0;
}

// A window that straddles offset k * step must come back intact, by copy and
// by a kernel reading the host memory in place: one allocation behaves as one
// piece of pinned memory wherever a copy starts and ends.
int mode_windows(size_t bytes, size_t step) {
  check(cudaFree(nullptr), "context");
  int dev = 0, host_ptr_ok = -1;
  cudaGetDevice(&dev);
  cudaDeviceGetAttribute(&host_ptr_ok, cudaDevAttrCanUseHostPointerForRegisteredMem, dev);
  void* h = nullptr;
  check(cudaHostAlloc(&h, bytes, cudaHostAllocDefault), "cudaHostAlloc");
  auto* w = static_cast<uint64_t*>(h);
  fill(w, bytes / 8, 0);
  const size_t window = 64ull << 20;
  void* d = nullptr;
  check(cudaMalloc(&d, window), "cudaMalloc");
  unsigned long long copy_bad = 0, zero_copy_bad = 0;
  int windows = 0;
  for (size_t b = step; b + window / 2 <= bytes; b += step, ++windows) {
    size_t start = b - window / 2;
    char* hp = static_cast<char*>(h) + start;
    check(cudaMemcpy(d, hp, window, cudaMemcpyHostToDevice), "H2D window");
    copy_bad += mismatches_on_device(d, window, start / 8);
    memset(hp, 0, window);
    check(cudaMemcpy(hp, d, window, cudaMemcpyDeviceToHost), "D2H window");
    copy_bad += count_mismatches(reinterpret_cast<uint64_t*>(hp), window / 8, start / 8);
    void* dp = nullptr;
    if (cudaHostGetDevicePointer(&dp, hp, 0) == cudaSuccess)
      zero_copy_bad += mismatches_on_device(dp, window, start / 8);
    else
      zero_copy_bad += window / 8;
    cudaGetLastError();
  }
  // What the API says about the memory (must match native), at an interior
  // pointer where it matters. cudaGetLastError after each call both clears
  // the state and, for register/unregister, reports what the call left.
  char* inside = static_cast<char*>(h) + step;
  unsigned flags = 99;
  int flags_rc = cudaHostGetFlags(&flags, h);
  cudaGetLastError();
  void* dp = nullptr;
  int devptr_rc = cudaHostGetDevicePointer(&dp, inside, 0);
  cudaGetLastError();
  cudaPointerAttributes attr{};
  int attr_rc = cudaPointerGetAttributes(&attr, inside);
  cudaGetLastError();
  int rereg_rc = cudaHostRegister(h, 2u << 20, 0);
  int rereg_last = cudaGetLastError();
  if (rereg_rc == cudaSuccess) cudaHostUnregister(h);
  cudaGetLastError();
  int unreg_rc = cudaHostUnregister(h);
  int unreg_last = cudaGetLastError();
  int unreg_inside_rc = cudaHostUnregister(inside);
  int unreg_inside_last = cudaGetLastError();
  int free_rc = cudaFreeHost(h);
  cudaFree(d);
  printf("{\"test\":\"windows\",\"run\":\"%s\",\"bytes\":%zu,\"step\":%zu,\"windows\":%d,"
         "\"copy_mismatches\":%llu,\"zero_copy_mismatches\":%llu,\"can_use_host_ptr\":%d,"
         "\"get_flags_rc\":%d,\"flags\":%u,\"devptr_rc\":%d,\"devptr_is_hostptr\":%d,"
         "\"attr_rc\":%d,\"attr_type\":%d,\"register_again_rc\":%d,\"register_again_last_error\":%d,"
         "\"unregister_rc\":%d,\"unregister_last_error\":%d,\"unregister_inside_rc\":%d,"
         "\"unregister_inside_last_error\":%d,\"free_rc\":%d}\n",
         run_label(), bytes, step, windows, copy_bad, zero_copy_bad, host_ptr_ok, flags_rc, flags,
         devptr_rc, dp == inside, attr_rc, static_cast<int>(attr.type), rereg_rc, rereg_last,
         unreg_rc, unreg_last, unreg_inside_rc, unreg_inside_last, free_rc);
  return 0;
}

__global__ void touch(char* p) { p[threadIdx.x] += 1; }

struct Stats {
  double p50 = 0, p99 = 0, max = 0;
  size_t n = 0;
};

Stats stats(std::vector<double> v) {
  Stats s;
  s.n = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5))]; };
  s.p50 = at(0.50);
  s.p99 = at(0.99);
  s.max = v.back();
  return s;
}

int mode_stall(size_t bytes) {
  check(cudaFree(nullptr), "context");
  const size_t small = 64 << 10;
  void* hs = nullptr;
  char* ds = nullptr;
  check(cudaHostAlloc(&hs, small, 0), "cudaHostAlloc(small)");
  check(cudaMalloc(&ds, small), "cudaMalloc(small)");
  cudaStream_t s;
  check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "stream");
  std::atomic<bool> stop{false};
  struct Sample {
    double start, latency;
  };
  std::vector<Sample> samples;
  samples.reserve(1 << 22);
  auto origin = Clock::now();
  std::thread loop([&] {
    cudaSetDevice(0);
    while (!stop.load(std::memory_order_relaxed)) {
      double t0 = seconds_since(origin);
      cudaMemcpyAsync(ds, hs, small, cudaMemcpyHostToDevice, s);
      touch<<<1, 32, 0, s>>>(ds);
      cudaStreamSynchronize(s);
      double t1 = seconds_since(origin);
      if (samples.size() < samples.capacity()) samples.push_back({t0, t1 - t0});
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  void* big = nullptr;
  double pin0 = seconds_since(origin);
  check(cudaHostAlloc(&big, bytes, 0), "cudaHostAlloc(big)");
  double pin1 = seconds_since(origin);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  stop = true;
  loop.join();
  double free0 = seconds_since(origin);
  cudaFreeHost(big);
  double free_s = seconds_since(origin) - free0;
  std::vector<double> base, during;
  for (const Sample& x : samples) {
    if (x.start + x.latency < pin0) base.push_back(x.latency);
    else if (x.start <= pin1) during.push_back(x.latency);
  }
  Stats b = stats(base), d = stats(during);
  printf("{\"test\":\"stall\",\"run\":\"%s\",\"bytes\":%zu,\"pin_s\":%.6f,\"free_s\":%.6f,"
         "\"base_n\":%zu,\"base_p50_us\":%.1f,\"base_p99_us\":%.1f,\"during_n\":%zu,"
         "\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n",
         run_label(), bytes, pin1 - pin0, free_s, b.n, b.p50 * 1e6, b.p99 * 1e6, d.n,
         d.p50 * 1e6, d.p99 * 1e6, d.max * 1e6);
  cudaFreeHost(hs);
  cudaFree(ds);
  return 0;
}

uint64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// key=value arguments after the mode's own ones.
std::string g_round = "0", g_phase = "", g_memory = "hostalloc";

void parse_keys(int argc, char** argv, int from) {
  for (int i = from; i < argc; ++i) {
    const char* eq = strchr(argv[i], '=');
    if (!eq) continue;
    std::string key(argv[i], static_cast<size_t>(eq - argv[i]));
    if (key == "round") g_round = std::to_string(atoi(eq + 1));
    else if (key == "phase") g_phase = eq + 1;
    else if (key == "memory") g_memory = eq + 1;
  }
}

// One cudaHostAlloc of BYTES and its cudaFreeHost, nothing in between: the
// allocation cost alone (cold/warm rounds), and the window another process's
// loop is judged in (decode_neighbour.py joins on CLOCK_MONOTONIC).
int mode_pin(size_t bytes) {
  uint64_t c0 = mono_ns();
  check(cudaFree(nullptr), "context");
  uint64_t c1 = mono_ns();
  void* h = nullptr;
  uint64_t a0 = mono_ns();
  check(cudaHostAlloc(&h, bytes, cudaHostAllocDefault), "cudaHostAlloc");
  uint64_t a1 = mono_ns();
  uint64_t f0 = mono_ns();
  check(cudaFreeHost(h), "cudaFreeHost");
  uint64_t f1 = mono_ns();
  printf("{\"test\":\"pin\",\"run\":\"%s\",\"round\":%s,\"phase\":\"%s\",\"bytes\":%zu,\"alloc_s\":%.6f,"
         "\"free_s\":%.6f,\"context_s\":%.6f,\"pin_start_ns\":%llu,\"pin_end_ns\":%llu,\"free_start_ns\":%llu,"
         "\"free_end_ns\":%llu}\n",
         run_label(), g_round.c_str(), g_phase.c_str(), bytes, (a1 - a0) * 1e-9, (f1 - f0) * 1e-9,
         (c1 - c0) * 1e-9, static_cast<unsigned long long>(a0), static_cast<unsigned long long>(a1),
         static_cast<unsigned long long>(f0), static_cast<unsigned long long>(f1));
  fflush(stdout);
  return 0;
}

// Bandwidth of copies of 64 KiB, 256 KiB, ... MAX from the start of one
// pinned buffer, each size with its own data (pattern words from `size`),
// checked on the device after H2D and on the host after D2H.
int mode_copies(size_t max_bytes) {
  check(cudaFree(nullptr), "context");
  max_bytes = max_bytes / 8 * 8;
  void* h = nullptr;
  bool registered = g_memory == "register", pageable = g_memory == "pageable";
  if (registered || pageable) {
    h = mmap(nullptr, max_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (h == MAP_FAILED) {
      printf("{\"test\":\"copy\",\"run\":\"%s\",\"memory\":\"%s\",\"error\":\"mmap: %s\"}\n", run_label(),
             g_memory.c_str(), strerror(errno));
      return 4;
    }
    if (registered) check(cudaHostRegister(h, max_bytes, 0), "cudaHostRegister");
  } else {
    g_memory = "hostalloc";
    check(cudaHostAlloc(&h, max_bytes, cudaHostAllocDefault), "cudaHostAlloc");
  }
  void* d = nullptr;
  check(cudaMalloc(&d, max_bytes), "cudaMalloc");
  auto* w = static_cast<uint64_t*>(h);
  int rc = 0;
  for (size_t n = 64 << 10; n <= max_bytes; n *= 4) {
    // Enough repetitions that the small copies are not one timer tick; best of them.
    int reps = static_cast<int>(std::max<size_t>(3, std::min<size_t>(200, (256ull << 20) / n)));
    size_t words = n / 8;
    fill(w, words, n);
    double h2d = copy_gbps(d, h, n, cudaMemcpyHostToDevice, reps);
    unsigned long long bad = mismatches_on_device(d, n, n);
    parallel_words(words, [=](size_t i) { w[i] = 0; });
    double d2h = copy_gbps(h, d, n, cudaMemcpyDeviceToHost, reps);
    bad += count_mismatches(w, words, n);
    if (bad) rc = 5;
    printf("{\"test\":\"copy\",\"run\":\"%s\",\"memory\":\"%s\",\"round\":%s,\"phase\":\"%s\",\"bytes\":%zu,"
           "\"buffer_bytes\":%zu,\"reps\":%d,\"h2d_gbps\":%.3f,\"d2h_gbps\":%.3f,\"checked_bytes\":%zu,"
           "\"mismatches\":%llu}\n",
           run_label(), g_memory.c_str(), g_round.c_str(), g_phase.c_str(), n, max_bytes, reps, h2d, d2h, 2 * n,
           bad);
    fflush(stdout);
  }
  cudaFree(d);
  if (registered || pageable) {
    if (registered) check(cudaHostUnregister(h), "cudaHostUnregister");
    munmap(h, max_bytes);
  } else {
    check(cudaFreeHost(h), "cudaFreeHost");
  }
  return rc;
}

// One cudaHostRegister of a fresh anonymous mmap and its cudaHostUnregister
// (the registration the DMA section records with `hugeshim run --kernel`).
int mode_register(size_t bytes) {
  check(cudaFree(nullptr), "context");
  void* h = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (h == MAP_FAILED) {
    printf("{\"test\":\"dma_register\",\"run\":\"%s\",\"error\":\"mmap: %s\"}\n", run_label(), strerror(errno));
    return 4;
  }
  uint64_t r0 = mono_ns();
  check(cudaHostRegister(h, bytes, 0), "cudaHostRegister");
  uint64_t r1 = mono_ns();
  check(cudaHostUnregister(h), "cudaHostUnregister");
  uint64_t u1 = mono_ns();
  munmap(h, bytes);
  printf("{\"test\":\"dma_register\",\"run\":\"%s\",\"round\":%s,\"phase\":\"%s\",\"bytes\":%zu,"
         "\"register_s\":%.6f,\"unregister_s\":%.6f,\"register_start_ns\":%llu,\"register_end_ns\":%llu}\n",
         run_label(), g_round.c_str(), g_phase.c_str(), bytes, (r1 - r0) * 1e-9, (u1 - r1) * 1e-9,
         static_cast<unsigned long long>(r0), static_cast<unsigned long long>(r1));
  fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3) {  // a clean answer where there is no GPU (or no driver): exit 3
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n < 1) {
      printf("{\"mode\":\"%s\",\"run\":\"%s\",\"error\":\"no CUDA device (%s)\"}\n", argv[1], run_label(),
             e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
      fprintf(stderr, "pinned_bench: no CUDA device (%s)\n", e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
      return 3;
    }
  }
  if (argc >= 3 && !strcmp(argv[1], "alloc")) return mode_alloc(strtoull(argv[2], nullptr, 0));
  if (argc >= 4 && !strcmp(argv[1], "windows"))
    return mode_windows(strtoull(argv[2], nullptr, 0), strtoull(argv[3], nullptr, 0));
  if (argc >= 3 && !strcmp(argv[1], "stall")) return mode_stall(strtoull(argv[2], nullptr, 0));
  parse_keys(argc, argv, 3);
  if (argc >= 3 && !strcmp(argv[1], "pin")) return mode_pin(strtoull(argv[2], nullptr, 0));
  if (argc >= 3 && !strcmp(argv[1], "copies")) return mode_copies(strtoull(argv[2], nullptr, 0));
  if (argc >= 3 && !strcmp(argv[1], "register")) return mode_register(strtoull(argv[2], nullptr, 0));
  fprintf(stderr,
          "usage: %s alloc BYTES | windows BYTES STEP | stall BYTES | pin BYTES [round=N phase=P] | "
          "copies MAX [memory=hostalloc|register|pageable round=N phase=P] | register BYTES [round=N phase=P]\n",
          argv[0]);
  return 64;
}
