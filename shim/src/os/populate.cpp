#include "os/populate.h"

#include <cerrno>
#include <linux/mempolicy.h>
#include <pthread.h>

#include "os/os.h"

namespace hugeshim {
namespace {

struct Job {
  uintptr_t addr;
  size_t len;
  int advice;
  int err;
};

int populate_one(uintptr_t addr, size_t len, int advice) {
  return os_madvise(as_ptr(addr), len, advice) == 0 ? 0 : errno;
}

// A helper thread: raw system calls only (no interposed symbol, no
// allocation), so it needs no reentrancy guard.
void* worker(void* arg) {
  auto* job = static_cast<Job*>(arg);
  job->err = populate_one(job->addr, job->len, job->advice);
  return nullptr;
}

}  // namespace

int populate_existing(uintptr_t addr, size_t len, unsigned threads, bool write) {
  constexpr size_t kMinShare = size_t{64} << 20;  // below that a thread costs more than it saves
  constexpr unsigned kMaxThreads = 64;
  int saved = errno;
  int advice = write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ;
  unsigned n = threads ? threads : 1;
  if (len / kMinShare < n) n = static_cast<unsigned>(len / kMinShare);
  if (n > kMaxThreads) n = kMaxThreads;
  int err = 0;
  if (n <= 1) {
    err = populate_one(addr, len, advice);
  } else {
    Job jobs[kMaxThreads];
    pthread_t tids[kMaxThreads];
    bool started[kMaxThreads] = {};
    size_t share = round_up(len / n, kPage2M);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    unsigned used = 0;
    for (size_t off = 0; off < len && used < n; off += share, ++used) {
      jobs[used] = Job{addr + off, off + share > len ? len - off : share, advice, 0};
      if (used > 0) started[used] = pthread_create(&tids[used], &attr, worker, &jobs[used]) == 0;
    }
    pthread_attr_destroy(&attr);
    jobs[0].err = populate_one(jobs[0].addr, jobs[0].len, advice);  // on the calling thread
    err = jobs[0].err;
    for (unsigned i = 1; i < used; ++i) {
      if (started[i]) pthread_join(tids[i], nullptr);
      else jobs[i].err = populate_one(jobs[i].addr, jobs[i].len, advice);
      if (!err) err = jobs[i].err;
    }
  }
  errno = saved;
  return err;
}

bool range_resident(uintptr_t addr, size_t len) {
  constexpr size_t kPagesPerCall = 4096;  // 16 MiB of base pages per mincore
  unsigned char vec[kPagesPerCall];
  int saved = errno;
  bool all = true;
  for (size_t off = 0; off < len && all; off += kPagesPerCall * kBasePage) {
    size_t chunk = len - off < kPagesPerCall * kBasePage ? len - off : kPagesPerCall * kBasePage;
    if (syscall(SYS_mincore, as_ptr(addr + off), chunk, vec) != 0) {
      all = false;
      break;
    }
    size_t pages = (chunk + kBasePage - 1) / kBasePage;
    for (size_t i = 0; i < pages; ++i)
      if (!(vec[i] & 1)) {
        all = false;
        break;
      }
  }
  errno = saved;
  return all;
}

int advise_hugepage(uintptr_t addr, size_t len) {
  int saved = errno;
  int err = os_madvise(as_ptr(addr), len, MADV_HUGEPAGE) == 0 ? 0 : errno;
  errno = saved;
  return err;
}

int memory_policy_mode(uintptr_t addr) {
  int saved = errno;
  int mode = -1;
  unsigned long flags = addr ? MPOL_F_ADDR : 0;
  if (os_get_mempolicy(&mode, nullptr, 0ul, as_ptr(addr), flags) != 0) mode = -1;
  errno = saved;
  // MPOL_F_STATIC_NODES / RELATIVE_NODES ride in the high bits of the mode.
  return mode < 0 ? -1 : (mode & 0xffff);
}

}  // namespace hugeshim
