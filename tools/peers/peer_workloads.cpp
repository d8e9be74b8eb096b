// peer-workloads WORKLOAD ARGS...: allocation patterns timed in-process,
// one line "seconds=S" on stdout. Run under each allocator by
// tools/peers/peers.py. The small-allocation patterns are written for this
// project after the well-known benchmarks they are named for; sizes and
// counts are modest (a 2-vCPU VM shared with builds).
//
//   large-batch COUNT MIB    COUNT x malloc(MIB) + memset, then free them all
//   large-loop COUNT MIB     COUNT x (malloc(MIB) + memset + free): reuse
//   larson THREADS ROUNDS    producer/consumer: each thread allocates a batch
//                            of 16..1024-byte blocks that the next thread frees
//   xmalloc THREADS BLOCKS   xmalloc-test: half the threads malloc 16..256-byte
//                            blocks into a shared queue, the other half free them
//   cache-scratch THREADS N  cache-scratch: each thread frees an 8-byte object
//                            the main thread allocated next to the others', then
//                            N times mallocs one, writes it 64 times, frees it
//   simple N                 glibc bench-malloc-simple: N x (malloc 8..1024
//                            bytes over a 256-block working set, free), 1 thread
//   simple-touch N           simple, but each block is written in full after
//                            malloc (memset), as a program fills what it
//                            allocates: a realistic amount of work per block
//   thread THREADS N         glibc bench-malloc-thread: the same per thread
//   realloc-string N         N strings grown one 1..16-byte append at a time
//                            with realloc, as string builders do
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// A small deterministic generator (xorshift): same sequence every run.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9e3779b97f4a7c15ull + 1) {}
  uint32_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return static_cast<uint32_t>(s);
  }
  size_t between(size_t lo, size_t hi) { return lo + next() % (hi - lo + 1); }
};

template <typename F>
void run_threads(int n, F f) {
  std::vector<pthread_t> t(static_cast<size_t>(n));
  struct Arg {
    F* f;
    int i;
  };
  std::vector<Arg> args(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    args[static_cast<size_t>(i)] = Arg{&f, i};
    pthread_create(&t[static_cast<size_t>(i)], nullptr,
                   [](void* a) -> void* {
                     auto* arg = static_cast<Arg*>(a);
                     (*arg->f)(arg->i);
                     return nullptr;
                   },
                   &args[static_cast<size_t>(i)]);
  }
  for (auto& th : t) pthread_join(th, nullptr);
}

double large_batch(long count, size_t len) {
  std::vector<char*> v;
  double t0 = now();
  for (long i = 0; i < count; ++i) {
    char* p = static_cast<char*>(malloc(len));
    if (!p) abort();
    memset(p, 1, len);
    v.push_back(p);
  }
  for (char* p : v) free(p);
  return now() - t0;
}

double large_loop(long count, size_t len) {
  double t0 = now();
  for (long i = 0; i < count; ++i) {
    char* p = static_cast<char*>(malloc(len));
    if (!p) abort();
    memset(p, 1, len);
    // The memory escapes: without this the compiler may drop the malloc,
    // memset and free of a block nobody reads (GCC does at -O2).
    asm volatile("" : : "r"(p) : "memory");
    free(p);
  }
  return now() - t0;
}

double larson(int threads, long rounds) {
  constexpr int kBatch = 1000;
  // slot i: the batch thread i produced for thread (i + 1) % threads.
  std::vector<std::atomic<void**>> mailbox(static_cast<size_t>(threads));
  for (auto& m : mailbox) m.store(nullptr);
  double t0 = now();
  run_threads(threads, [&](int id) {
    Rng rng(static_cast<uint64_t>(id) + 1);
    int from = (id + threads - 1) % threads;
    for (long r = 0; r < rounds; ++r) {
      void** batch = static_cast<void**>(malloc(kBatch * sizeof(void*)));
      for (int i = 0; i < kBatch; ++i) {
        batch[i] = malloc(rng.between(16, 1024));
        static_cast<char*>(batch[i])[0] = 1;
      }
      while (mailbox[static_cast<size_t>(id)].load() != nullptr) sched_yield();  // the consumer took the last one
      mailbox[static_cast<size_t>(id)].store(batch);
      void** theirs;
      while ((theirs = mailbox[static_cast<size_t>(from)].exchange(nullptr)) == nullptr) sched_yield();
      for (int i = 0; i < kBatch; ++i) free(theirs[i]);  // freed by another thread than allocated them
      free(theirs);
    }
  });
  for (auto& m : mailbox)
    if (void** b = m.load()) {
      for (int i = 0; i < kBatch; ++i) free(b[i]);
      free(b);
    }
  return now() - t0;
}

double xmalloc(int threads, long blocks) {
  std::mutex mu;
  std::vector<void*> queue;
  std::atomic<int> producers_left{threads / 2 > 0 ? threads / 2 : 1};
  int producers = threads / 2 > 0 ? threads / 2 : 1;
  int consumers = threads - producers > 0 ? threads - producers : 1;
  double t0 = now();
  run_threads(producers + consumers, [&](int id) {
    if (id < producers) {
      Rng rng(static_cast<uint64_t>(id) + 7);
      std::vector<void*> local;
      for (long i = 0; i < blocks; ++i) {
        local.push_back(malloc(rng.between(16, 256)));
        if (local.size() == 256) {
          std::lock_guard<std::mutex> g(mu);
          queue.insert(queue.end(), local.begin(), local.end());
          local.clear();
        }
      }
      std::lock_guard<std::mutex> g(mu);
      queue.insert(queue.end(), local.begin(), local.end());
      producers_left.fetch_sub(1);
    } else {
      std::vector<void*> take;
      for (;;) {
        {
          std::lock_guard<std::mutex> g(mu);
          take.swap(queue);
        }
        for (void* p : take) free(p);
        bool done = take.empty() && producers_left.load() == 0;
        take.clear();
        if (done) {
          std::lock_guard<std::mutex> g(mu);
          if (queue.empty()) break;
        }
        if (take.empty()) sched_yield();
      }
    }
  });
  return now() - t0;
}

double cache_scratch(int threads, long n) {
  std::vector<char*> first(static_cast<size_t>(threads));
  for (auto& p : first) p = static_cast<char*>(malloc(8));  // neighbours on one cache line
  double t0 = now();
  run_threads(threads, [&](int id) {
    free(first[static_cast<size_t>(id)]);
    for (long i = 0; i < n; ++i) {
      volatile char* p = static_cast<char*>(malloc(8));
      for (int w = 0; w < 64; ++w) p[w % 8] = static_cast<char>(w);
      free(const_cast<char*>(p));
    }
  });
  return now() - t0;
}

// Touch is a template parameter, so that the plain loop carries no test for it.
template <bool Touch = false>
void simple_worker(long n, uint64_t seed) {
  constexpr int kSet = 256;
  void* set[kSet] = {};
  Rng rng(seed);
  for (long i = 0; i < n; ++i) {
    int slot = static_cast<int>(rng.next() % kSet);
    free(set[slot]);
    size_t size = rng.between(8, 1024);
    set[slot] = malloc(size);
    if constexpr (Touch) memset(set[slot], static_cast<int>(i), size);
  }
  for (void* p : set) free(p);
}

template <bool Touch>
double simple(long n) {
  double t0 = now();
  simple_worker<Touch>(n, 3);
  return now() - t0;
}

double thread_bench(int threads, long n) {
  double t0 = now();
  run_threads(threads, [&](int id) { simple_worker(n, static_cast<uint64_t>(id) + 11); });
  return now() - t0;
}

double realloc_string(long n) {
  Rng rng(5);
  double t0 = now();
  size_t total = 0;
  for (long s = 0; s < n; ++s) {
    char* str = nullptr;
    size_t len = 0, target = rng.between(64, 4096);
    while (len < target) {
      size_t add = rng.between(1, 16);
      str = static_cast<char*>(realloc(str, len + add + 1));
      memset(str + len, 'a' + static_cast<int>(s % 26), add);
      len += add;
      str[len] = 0;
    }
    total += strlen(str);
    free(str);
  }
  if (total == 0) abort();
  return now() - t0;
}

}  // namespace

int main(int argc, char** argv) {
  bool one_arg = argc == 3 && (!strcmp(argv[1], "simple") || !strcmp(argv[1], "simple-touch") ||
                                !strcmp(argv[1], "realloc-string"));
  if (argc != 4 && !one_arg) {
    fprintf(stderr, "usage: peer-workloads WORKLOAD ARGS (see the source)\n");
    return 2;
  }
  std::string w = argv[1];
  long a = atol(argv[2]), b = argc > 3 ? atol(argv[3]) : 0;
  double s;
  if (w == "large-batch") s = large_batch(a, static_cast<size_t>(b) << 20);
  else if (w == "large-loop") s = large_loop(a, static_cast<size_t>(b) << 20);
  else if (w == "larson") s = larson(static_cast<int>(a), b);
  else if (w == "xmalloc") s = xmalloc(static_cast<int>(a), b);
  else if (w == "cache-scratch") s = cache_scratch(static_cast<int>(a), b);
  else if (w == "simple") s = simple<false>(a);
  else if (w == "simple-touch") s = simple<true>(a);
  else if (w == "thread") s = thread_bench(static_cast<int>(a), b);
  else if (w == "realloc-string") s = realloc_string(a);
  else {
    fprintf(stderr, "peer-workloads: unknown workload %s\n", argv[1]);
    return 2;
  }
  printf("seconds=%.6f\n", s);
  return 0;
}
