// The bootstrap buffer under contention (core/bootstrap.h). Every g_real
// slot starts at a resolving trampoline; while a thread resolves the real
// allocator, every allocation another thread makes is carved from one static
// buffer by a lock-free bump. No two blocks may overlap, each keeps its size
// header and alignment, and no allocation may fail merely because
// resolution is running.
//
// Resolution happens once per process, so each attempt is a fresh fork()ed
// child of this test process (which never calls g_real, so every child
// starts from the trampolines). In the child, the dlsym the shim resolves
// through is a double (slow_dlsym_double.cpp) that holds every resolving
// thread, asleep, until the others have made all their calls: whatever the
// core count, the allocating threads run their bursts side by side while
// resolution is in progress, which is what a racy bump needs to lose an
// update. The child checks its blocks and reports through its exit status;
// a crash shows as a signal.
#define BOOST_TEST_MODULE bootstrap_race
#include <boost/test/unit_test.hpp>

#include <dlfcn.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstring>
#include <new>
#include <thread>
#include <vector>

#include "core/bootstrap.h"

extern "C" {
void slow_dlsym_hold(bool hold);
int slow_dlsym_waiting();
int slow_dlsym_held_calls();
}

using hugeshim::g_real;

namespace {

constexpr int kAttempts = 200;

// The family members that may be called while another thread resolves.
enum Kind { kMalloc, kCalloc, kMemalign, kAlignedAlloc, kPosixMemalign, kReallocNull, kValloc, kPvalloc };
constexpr int kSmallKinds = kValloc;  // the kinds before the page-aligned ones

// What one call asked for and got. Blocks the bootstrap buffer served are
// filled with `tag` after the burst; tags of different threads differ.
struct Block {
  unsigned char* p;
  size_t n;  // bytes asked of the allocator: what the size header holds
  size_t align;
  Kind kind;
  unsigned char tag;
};

// Each slot read atomically: the resolver publishes them concurrently.
template <typename Fn>
Fn slot(Fn* field) {
  return __atomic_load_n(field, __ATOMIC_ACQUIRE);
}

size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

Block call(Kind kind, size_t n, size_t align) {
  void* p = nullptr;
  switch (kind) {
    case kMalloc: p = slot(&g_real.malloc)(n); align = 16; break;
    case kCalloc: p = slot(&g_real.calloc)(1, n); align = 16; break;
    case kMemalign:
      p = slot(&g_real.memalign)(align, n);
      align = std::bit_ceil(align);  // glibc rounds other alignments up
      break;
    case kAlignedAlloc:
      n = round_up(n, align);
      p = slot(&g_real.aligned_alloc)(align, n);
      break;
    case kPosixMemalign:
      if (slot(&g_real.posix_memalign)(&p, align, n) != 0) p = nullptr;
      break;
    case kReallocNull: p = slot(&g_real.realloc)(nullptr, n); align = 16; break;
    case kValloc: p = slot(&g_real.valloc)(n); align = 4096; break;
    case kPvalloc:
      n = round_up(n, 4096);
      p = slot(&g_real.pvalloc)(n);
      align = 4096;
      break;
  }
  return Block{static_cast<unsigned char*>(p), n, align, kind, 0};
}

int allocating_threads() { return std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 2, 8); }

// Calls per thread when `threads` make them: small blocks (about 50 bytes
// with header and padding on average) adding up to about half the 64 KiB
// buffer, which leaves room for the two page-aligned ones.
int calls_per_thread(int threads) { return 32 * 1024 / (threads * 64); }

// One thread's calls: back to back, as tight as a racy bump needs, then a
// tag in each bootstrap block, so that any overlap clobbers one of them.
// Threads 0 and 1 make one page-aligned call each; the rest are small.
// With odd_alignment, half the memalign calls ask for 48 bytes, which glibc
// rounds up but a sanitizer's allocator refuses: only for calls that surely
// reach the bootstrap buffer. Returns false when a calloc block from the
// buffer was not zero.
bool burst(int t, int calls, bool odd_alignment, std::vector<Block>* got) {
  for (int i = 0; i < calls; ++i) {
    Kind kind = i == 0 && t < 2 ? (t ? kValloc : kPvalloc) : static_cast<Kind>((i + t) % kSmallKinds);
    size_t n = 1 + static_cast<size_t>((t * 13 + i * 7) % 32);
    size_t align = size_t{16} << ((i + t) % 3);
    if (odd_alignment && kind == kMemalign && i % 2) align = 48;
    got->push_back(call(kind, n, align));
    got->back().tag = static_cast<unsigned char>(t * 31 + i % 31 + 1);
  }
  bool zero = true;
  for (const Block& b : *got) {
    if (!b.p || !hugeshim::bootstrap_owns(b.p)) continue;
    if (b.kind == kCalloc && std::any_of(b.p, b.p + b.n, [](unsigned char c) { return c != 0; })) zero = false;
    memset(b.p, b.tag, b.n);
  }
  return zero;
}

// Child exit statuses.
enum Verdict : int {
  kPass = 0,
  kFailedCall = 10,    // an allocation returned nothing
  kOverlap = 11,       // two bootstrap blocks (or a block and a header) overlap
  kBadHeader = 12,     // the size header does not hold the requested size
  kClobbered = 13,     // a block's contents changed after it was filled
  kMisaligned = 14,
  kNotHeld = 15,       // the shim did not resolve through the double
  kNotZero = 16,       // a calloc block from the buffer was not zeroed
  kNotBootstrap = 17,  // a call made during resolution did not get a bootstrap block
  kWrongMalloc = 18,   // resolution did not end at the process's malloc
};

// Checks every block of every thread. `all_bootstrap`: every call was made
// while resolution was in progress.
int check(const std::vector<std::vector<Block>>& got, bool all_bootstrap, int* boot_blocks) {
  std::vector<Block> boot;
  for (const auto& thread : got)
    for (const Block& b : thread) {
      if (!b.p) return kFailedCall;
      if (reinterpret_cast<uintptr_t>(b.p) % b.align) return kMisaligned;
      if (hugeshim::bootstrap_owns(b.p)) boot.push_back(b);
      else if (all_bootstrap) return kNotBootstrap;
    }
  std::sort(boot.begin(), boot.end(), [](const Block& a, const Block& b) { return a.p < b.p; });
  for (size_t k = 0; k < boot.size(); ++k) {
    const Block& b = boot[k];
    // The next block's size header sits right before it.
    if (k + 1 < boot.size() && boot[k + 1].p < b.p + b.n + sizeof(size_t)) return kOverlap;
    if (hugeshim::bootstrap_usable_size(b.p) != b.n) return kBadHeader;
    if (std::any_of(b.p, b.p + b.n, [&](unsigned char c) { return c != b.tag; })) return kClobbered;
  }
  *boot_blocks = static_cast<int>(boot.size());
  return kPass;
}

void pause() {
  const timespec ts{0, 20000};
  nanosleep(&ts, nullptr);
}

// One thread starts resolution and is held in dlsym; then the allocating
// threads (one per core) meet at a spinning barrier, so their bursts start
// together.
int during_resolution(int* boot_blocks) {
  const int n = allocating_threads(), calls = calls_per_thread(n);
  std::vector<std::vector<Block>> got(n);
  for (auto& g : got) g.reserve(calls);
  std::vector<char> zero_ok(n, 1);
  std::atomic<int> ready{0}, finished{0};
  // Fault the (still unused, all-zero) buffer in first: page faults in the
  // burst would serialise the threads.
  memset(hugeshim::g_bootstrap_buffer, 0, hugeshim::kBootstrapBytes);
  slow_dlsym_hold(true);
  std::thread resolver([] { slot(&g_real.malloc)(64); });
  while (slow_dlsym_waiting() == 0) pause();
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t)
    threads.emplace_back([&, t] {
      ready.fetch_add(1, std::memory_order_acq_rel);
      while (ready.load(std::memory_order_acquire) < n) {
      }
      zero_ok[t] = burst(t, calls, true, &got[t]);
      finished.fetch_add(1, std::memory_order_release);
    });
  while (finished.load(std::memory_order_acquire) < n) pause();
  slow_dlsym_hold(false);
  resolver.join();
  for (auto& th : threads) th.join();
  if (reinterpret_cast<void*>(slot(&g_real.malloc)) != dlsym(RTLD_DEFAULT, "malloc")) return kWrongMalloc;
  if (std::count(zero_ok.begin(), zero_ok.end(), 0)) return kNotZero;
  return check(got, true, boot_blocks);
}

// Every thread makes its first call at once: one or more become resolvers
// (held in dlsym), the others allocate from the buffer meanwhile.
int racing_to_resolve(int* boot_blocks) {
  const int n = allocating_threads() + 2, calls = calls_per_thread(n);
  std::vector<std::vector<Block>> got(n);
  for (auto& g : got) g.reserve(calls);
  std::vector<char> zero_ok(n, 1);
  std::atomic<int> ready{0}, finished{0};
  std::atomic<bool> go{false};
  slow_dlsym_hold(true);
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t)
    threads.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) sched_yield();
      zero_ok[t] = burst(t, calls, false, &got[t]);
      finished.fetch_add(1, std::memory_order_release);
    });
  while (ready.load() < n) pause();
  go.store(true, std::memory_order_release);
  // Release the resolvers once every other thread is done.
  while (finished.load(std::memory_order_acquire) + slow_dlsym_waiting() < n) pause();
  slow_dlsym_hold(false);
  for (auto& th : threads) th.join();
  if (slow_dlsym_held_calls() == 0) return kNotHeld;
  if (std::count(zero_ok.begin(), zero_ok.end(), 0)) return kNotZero;
  return check(got, false, boot_blocks);
}

// Runs `attempt` in kAttempts fresh children; returns the bootstrap blocks
// they checked.
long run_children(int (*attempt)(int*)) {
  auto* blocks = static_cast<std::atomic<long>*>(
      mmap(nullptr, sizeof(std::atomic<long>), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  BOOST_REQUIRE(blocks != MAP_FAILED);
  new (blocks) std::atomic<long>(0);
  auto started = std::chrono::steady_clock::now();
  int passed = 0;
  for (int i = 0; i < kAttempts; ++i) {
    pid_t pid = fork();
    BOOST_REQUIRE(pid >= 0);
    if (pid == 0) {
      int mine = 0;
      int verdict = attempt(&mine);
      blocks->fetch_add(mine);
      _exit(verdict);
    }
    int status = 0;
    BOOST_REQUIRE_EQUAL(waitpid(pid, &status, 0), pid);
    BOOST_TEST_CONTEXT("attempt " << i) {
      BOOST_TEST(!WIFSIGNALED(status), "killed by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0));
      if (WIFEXITED(status)) BOOST_TEST(WEXITSTATUS(status) == kPass);
    }
    passed += WIFEXITED(status) && WEXITSTATUS(status) == kPass;
  }
  long total = blocks->load();
  munmap(blocks, sizeof(std::atomic<long>));
  BOOST_TEST(passed == kAttempts);
  BOOST_TEST_MESSAGE(kAttempts << " children in "
                               << std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()
                               << " s; " << total << " bootstrap blocks checked");
  return total;
}

}  // namespace

BOOST_AUTO_TEST_CASE(calls_during_resolution_get_disjoint_bootstrap_blocks) {
  const int n = allocating_threads();
  long blocks = run_children(during_resolution);
  BOOST_TEST(blocks == long{kAttempts} * n * calls_per_thread(n));
}

BOOST_AUTO_TEST_CASE(threads_racing_to_resolve_all_get_memory) {
  long blocks = run_children(racing_to_resolve);
  // The buffer served calls: on average at least one thread's worth each time.
  BOOST_TEST(blocks >= long{kAttempts} * calls_per_thread(allocating_threads() + 2));
}
