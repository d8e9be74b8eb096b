#include "hugetlb_pool.h"

#include <fcntl.h>
#include <linux/mman.h>
#include <sys/mman.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace hugeshim_bench {
namespace {

// What the signal handler needs, prepared beforehand: the sysfs file and
// the text to write back (async-signal-safe: open, write, close only).
struct Saved {
  char path[128];
  char value[32];
  long before;
  long grown_to;
  bool active;
};
Saved g_saved[2];  // 2 MiB, 1 GiB
bool g_handlers_installed = false;

void write_back(const Saved& s) {
  int fd = open(s.path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = write(fd, s.value, strlen(s.value));
  (void)n;
  close(fd);
}

void on_signal(int sig) {
  for (Saved& s : g_saved)
    if (s.active) write_back(s);
  signal(sig, SIG_DFL);
  raise(sig);
}

void at_exit() {
  for (Saved& s : g_saved)
    if (s.active) {
      write_back(s);
      s.active = false;
    }
}

long read_long(const char* path) {
  FILE* f = fopen(path, "re");
  if (!f) return -1;
  long v = -1;
  if (fscanf(f, "%ld", &v) != 1) v = -1;
  fclose(f);
  return v;
}

std::string sysfs(size_t page_size, const char* file) {
  return "/sys/kernel/mm/hugepages/hugepages-" + std::to_string(page_size >> 10) + "kB/" + file;
}

}  // namespace

bool hugetlb_size_exists(size_t page_size) { return access(sysfs(page_size, "nr_hugepages").c_str(), F_OK) == 0; }

long hugetlb_available(size_t page_size) {
  long free_pages = read_long(sysfs(page_size, "free_hugepages").c_str());
  long resv = read_long(sysfs(page_size, "resv_hugepages").c_str());
  if (free_pages < 0 || resv < 0) return 0;
  return free_pages > resv ? free_pages - resv : 0;
}

void hugetlb_warm(size_t page_size, long pages) {
  if (pages <= 0) return;
  size_t len = page_size * static_cast<size_t>(pages);
  int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (page_size == (size_t{1} << 30) ? MAP_HUGE_1GB : MAP_HUGE_2MB);
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (p == MAP_FAILED) return;
  madvise(p, len, MADV_POPULATE_WRITE);
  munmap(p, len);
}

PoolGuard::PoolGuard() {
  if (!g_handlers_installed) {
    struct sigaction sa = {};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGHUP, &sa, nullptr);
    atexit(at_exit);
    g_handlers_installed = true;
  }
}

PoolGuard::~PoolGuard() { restore(); }

std::string PoolGuard::ensure(size_t page_size, long pages) {
  if (!hugetlb_size_exists(page_size)) return "the host has no such page size";
  long have = hugetlb_available(page_size);
  if (have >= pages) return "";
  if (geteuid() != 0) return "the pool has " + std::to_string(have) + " free pages and only root can grow it";
  Saved& s = g_saved[page_size == (size_t{1} << 30) ? 1 : 0];
  std::string path = sysfs(page_size, "nr_hugepages");
  long before = read_long(path.c_str());
  if (before < 0) return "cannot read " + path;
  long target = (s.active ? s.grown_to : before) + (pages - have);
  if (!s.active) {
    snprintf(s.path, sizeof s.path, "%s", path.c_str());
    snprintf(s.value, sizeof s.value, "%ld", before);
    s.before = before;
  }
  // Armed before the write: a signal between the two still restores.
  s.active = true;
  FILE* f = fopen(path.c_str(), "we");
  bool wrote = f && fprintf(f, "%ld", target) > 0;
  if (f && fclose(f) != 0) wrote = false;
  s.grown_to = target;
  if (!wrote || hugetlb_available(page_size) < pages) {
    long got = hugetlb_available(page_size);
    write_back(s);
    s.active = false;
    return "asked the kernel for " + std::to_string(pages) + " free pages, it could provide " + std::to_string(got);
  }
  fprintf(stderr, "hugeshim-bench: hugetlb pool of %zu MiB pages grown from %ld to %ld pages for the run (restored on exit)\n",
          page_size >> 20, s.before, target);
  return "";
}

bool PoolGuard::restore() {
  bool ok = true;
  for (Saved& s : g_saved)
    if (s.active) {
      write_back(s);
      s.active = false;
      ok = ok && read_long(s.path) == s.before;
    }
  return ok;
}

long PoolGuard::grown_pages() const {
  long n = 0;
  for (const Saved& s : g_saved)
    if (s.active) n += s.grown_to - s.before;
  return n;
}

}  // namespace hugeshim_bench
