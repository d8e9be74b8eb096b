// latency-probe GIB CHUNK_MIB
//
// The main thread runs fixed units of work, each timed: hash a 64 KiB
// buffer it owns (faulted in before timing starts) and malloc/write/free a
// 256-byte block, as a request handler does. Another thread of the same
// process, started after 200 ms, allocates GIB in CHUNK_MIB pieces
// (malloc), populates each (memset) and mlocks it, holding everything
// until it is done; the loop stops 100 ms after that thread finishes.
// Prints one JSON line: unit latency percentiles in microseconds over the
// units that ran while the interferer did, their count, and the
// interferer's seconds.
#include <pthread.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

std::atomic<int> g_phase{0};  // 0 warm-up, 1 interfering, 2 done
size_t g_total = 0, g_chunk = 0;
double g_interfere_s = 0;             // written by the interferer before g_interfered
std::atomic<bool> g_interfered{false};

void* interferer(void*) {
  std::vector<char*> held;
  auto t0 = Clock::now();
  for (size_t done = 0; done < g_total; done += g_chunk) {
    char* p = static_cast<char*>(malloc(g_chunk));
    if (!p) break;
    memset(p, 1, g_chunk);
    mlock(p, g_chunk);
    held.push_back(p);
  }
  g_interfere_s = std::chrono::duration<double>(Clock::now() - t0).count();
  g_interfered.store(true);
  for (char* p : held) {
    munlock(p, g_chunk);
    free(p);
  }
  return nullptr;
}

uint64_t unit(const uint64_t* buf, size_t words) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < words; ++i) h = (h ^ buf[i]) * 1099511628211ull;
  char* b = static_cast<char*>(malloc(256));
  b[0] = static_cast<char>(h);
  b[255] = static_cast<char>(h >> 8);
  h += static_cast<unsigned char>(b[0]) + static_cast<unsigned char>(b[255]);
  free(b);
  return h;
}

double pct(std::vector<double>& v, double p) {
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: latency-probe GIB CHUNK_MIB\n");
    return 2;
  }
  g_total = static_cast<size_t>(atof(argv[1]) * (1 << 30));
  g_chunk = static_cast<size_t>(atol(argv[2])) << 20;
  if (g_total == 0 || g_chunk == 0) {
    fprintf(stderr, "latency-probe: GIB and CHUNK_MIB must be positive\n");
    return 2;
  }
  constexpr size_t kWords = 64 * 1024 / 8;
  std::vector<uint64_t> buf(kWords, 3);
  std::vector<double> lat;
  lat.reserve(20'000'000);  // allocated and faulted before timing
  memset(lat.data(), 0, 20'000'000 * sizeof(double));
  uint64_t sink = 0;
  pthread_t tid;
  bool started = false;
  auto t_start = Clock::now();
  Clock::time_point t_done{};
  for (;;) {
    auto t0 = Clock::now();
    sink += unit(buf.data(), kWords);
    auto t1 = Clock::now();
    if (g_phase.load() == 1 && lat.size() < lat.capacity())
      lat.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    if (!started && t1 - t_start > std::chrono::milliseconds(200)) {
      g_phase.store(1);
      pthread_create(&tid, nullptr, interferer, nullptr);
      started = true;
    }
    if (started && g_interfered.load() && t_done == Clock::time_point{}) t_done = t1;
    if (t_done != Clock::time_point{} && t1 - t_done > std::chrono::milliseconds(100)) break;
  }
  pthread_join(tid, nullptr);
  std::sort(lat.begin(), lat.end());
  printf("{\"units\":%zu,\"p50_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,\"max_us\":%.2f,\"interferer_s\":%.3f,\"sink\":%llu}\n",
         lat.size(), pct(lat, 50), pct(lat, 99), pct(lat, 99.9), lat.back(), g_interfere_s,
         static_cast<unsigned long long>(sink & 1));
  return 0;
}
