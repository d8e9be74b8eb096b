// fragment-memory [--max-gib G] [--floor-mib M] [--movable] [--no-compaction]
//                 [--hold | -- CMD ARGS...]
//
// Fragments the host's free memory in a bounded, reversible way, then runs
// CMD (or holds until SIGINT/SIGTERM) and undoes it all on exit.
//
// How: it takes the free 2 MiB blocks of the buddy allocator one chunk at a
// time as transparent huge pages (a THP fault takes exactly one free,
// aligned 2 MiB physical block), keeps and mlocks the first base page of
// each block and unmaps the other 511 (MADV_DONTNEED). A partly unmapped THP
// is only queued for splitting; the queue is worked by a shrinker under
// memory pressure. To have the 511 pages freed now, the tool runs in a
// memory cgroup of its own (a child of the one it started in, cgroup v1 or
// v2) and, after each chunk, briefly lowers that cgroup's limit: the
// cgroup's reclaim runs the shrinker for its own queue only, which splits
// the chunk's pages and frees the unmapped ones. Nothing outside the tool's
// cgroup is reclaimed. (debugfs split_huge_pages would do it directly, but
// kernel lockdown refuses debugfs writes on many hosts, this one included.) Every block that was free
// now holds one pinned page: the free memory is still there for base-page
// allocations (only 1/512 of it is held), but no 2 MiB block is free, so a
// THP fault must compact or fall back, as on a long-running, fragmented
// host.
//
// Bounds: at most --max-gib of blocks (default: every free block), never
// while MemAvailable is below --floor-mib (default 2048), one 256 MiB chunk
// resident at a time. It stops when no free 2 MiB block is left (from
// /proc/buddyinfo) or when the kernel stops giving THP (share < 50%). While
// CMD runs (or while it holds) it keeps up: blocks that other programs free
// are taken the same way, checked every 20 ms, within the same bounds.
//
// Pinned pages are movable by compaction while vm.compact_unevictable_allowed
// is 1 (kcompactd would slowly undo the fragmentation, and THP faults would
// succeed after migrating pages). Unless --movable is given it sets that
// sysctl to 0 for the duration and restores the old value on exit (normal
// exit, SIGINT, SIGTERM, SIGHUP; a SIGKILL leaves it at 0: write the value
// back by hand, `sysctl vm.compact_unevictable_allowed=1`). CMD runs in the
// cgroup the tool started in. Needs root.
//
// Even so, direct compaction can still build a free 2 MiB block for a THP
// fault by moving other programs' movable pages (page cache, anonymous
// memory) into the holes: on a host with plenty of free memory the THP fault
// then succeeds, only slower. --no-compaction models a host where
// compaction cannot help (free memory low, or everything unmovable): it sets
// vm.extfrag_threshold to 1000 (the kernel then treats every failed
// high-order allocation as lack of memory and does not compact) from the
// start, so the tool takes only the blocks that are free, and restores it on
// exit, as above. THP faults then fall back to base pages after a failed
// attempt (direct reclaim included, in `defrag=madvise` mode): measured here,
// THP populate 1.2-1.7 s/GiB with 2-10% huge, base pages 0.8 s/GiB.
//
// Prints one JSON line to stderr when memory is fragmented:
//   fragment-memory: {"blocks":N,"pinned_bytes":...,"free_2m_blocks_before":...,
//                     "free_2m_blocks_after":...,"seconds":...,"unmovable":true}
// Exit status: CMD's, or 0 after --hold, 2 for bad usage, 1 when it could
// not fragment (not root, no THP, no memory cgroup).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr size_t kBlock = size_t{2} << 20;
constexpr size_t kPage = 4096;
constexpr size_t kChunk = size_t{256} << 20;
constexpr const char* kUnevictable = "/proc/sys/vm/compact_unevictable_allowed";
constexpr const char* kExtfrag = "/proc/sys/vm/extfrag_threshold";

volatile sig_atomic_t g_stop = 0;
volatile sig_atomic_t g_child = 0;
std::vector<std::pair<void*, size_t>> g_chunks;  // mapped, each holding its pinned pages

void on_signal(int sig) {
  g_stop = sig;
  if (g_child > 0) kill(g_child, sig);
}

std::string read_all(const char* path) {
  std::string s;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return s;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
  close(fd);
  return s;
}

bool write_str(const char* path, const std::string& v) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, v.data(), v.size()) == static_cast<ssize_t>(v.size());
  close(fd);
  return ok;
}

// Free 2 MiB blocks in the buddy allocator: an order-o free block (o >= 9)
// holds 2^(o-9) of them.
long free_2m_blocks() {
  std::string s = read_all("/proc/buddyinfo");
  long blocks = 0;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t eol = s.find('\n', pos);
    if (eol == std::string::npos) eol = s.size();
    std::string line = s.substr(pos, eol - pos);
    pos = eol + 1;
    size_t z = line.find("zone");
    if (z == std::string::npos) continue;
    const char* p = line.c_str() + z + 4;
    while (*p == ' ') ++p;
    while (*p && *p != ' ') ++p;  // zone name
    for (int order = 0; *p; ++order) {
      char* end;
      long n = strtol(p, &end, 10);
      if (end == p) break;
      if (order >= 9) blocks += n << (order - 9);
      p = end;
    }
  }
  return blocks;
}

long meminfo_kb(const char* field) {
  std::string s = read_all("/proc/meminfo");
  size_t at = s.find(field);
  if (at == std::string::npos) return -1;
  return strtol(s.c_str() + at + strlen(field), nullptr, 10);
}

// AnonHugePages (bytes) of the VMA starting at addr.
size_t anon_huge_bytes(uintptr_t addr) {
  std::string s = read_all("/proc/self/smaps");
  char head[32];
  snprintf(head, sizeof head, "%lx-", static_cast<unsigned long>(addr));
  size_t at = s.find(std::string("\n") + head);
  if (at == std::string::npos && s.rfind(head, 0) != 0) return 0;
  size_t field = s.find("AnonHugePages:", at == std::string::npos ? 0 : at);
  if (field == std::string::npos) return 0;
  return static_cast<size_t>(strtoull(s.c_str() + field + 14, nullptr, 10)) << 10;
}

// A sysctl set for the tool's lifetime and put back on exit.
struct Sysctl {
  const char* path;
  std::string old_value;
  bool changed = false;
  explicit Sysctl(const char* p) : path(p) {}
  void set(const char* value) {
    old_value = read_all(path);
    while (!old_value.empty() && (old_value.back() == '\n' || old_value.back() == ' ')) old_value.pop_back();
    if (old_value.empty() || old_value == value) return;
    changed = write_str(path, value);
  }
  void restore() {
    if (changed && !write_str(path, old_value))
      fprintf(stderr, "fragment-memory: could not restore %s to %s\n", path, old_value.c_str());
    changed = false;
  }
};

// The tool's own memory cgroup: a child of the memory cgroup it started in.
struct MemoryCgroup {
  std::string parent, dir, limit_file, unlimited;

  // Creates the child and moves this process into it: "" or why not.
  std::string enter() {
    std::string self = read_all("/proc/self/cgroup");
    std::string v1_path, v2_path;
    size_t pos = 0;
    while (pos < self.size()) {
      size_t eol = self.find('\n', pos);
      if (eol == std::string::npos) eol = self.size();
      std::string line = self.substr(pos, eol - pos);
      pos = eol + 1;
      size_t a = line.find(':'), b = line.find(':', a + 1);
      if (a == std::string::npos || b == std::string::npos) continue;
      std::string ctrls = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
      if (ctrls == "memory" || ctrls.find("memory,") == 0 || ctrls.find(",memory") != std::string::npos) v1_path = path;
      if (line.compare(0, 3, "0::") == 0) v2_path = path;
    }
    if (!v1_path.empty() && access("/sys/fs/cgroup/memory/tasks", F_OK) == 0) {
      parent = "/sys/fs/cgroup/memory" + v1_path;
      limit_file = "memory.limit_in_bytes";
      unlimited = "-1";
    } else if (!v2_path.empty()) {
      parent = "/sys/fs/cgroup" + v2_path;
      if (read_all((parent + "/cgroup.subtree_control").c_str()).find("memory") == std::string::npos)
        return parent + ": the memory controller is not enabled for child cgroups";
      limit_file = "memory.max";
      unlimited = "max";
    } else {
      return "no memory cgroup found in /proc/self/cgroup";
    }
    while (!parent.empty() && parent.back() == '/') parent.pop_back();
    dir = parent + "/fragment-memory." + std::to_string(getpid());
    if (mkdir(dir.c_str(), 0755) != 0) return dir + ": " + strerror(errno);
    if (!write_str((dir + "/cgroup.procs").c_str(), std::to_string(getpid()))) {
      std::string why = dir + "/cgroup.procs: " + strerror(errno);
      rmdir(dir.c_str());
      dir.clear();
      return why;
    }
    return "";
  }

  // Reclaim in this cgroup alone down to `keep` bytes: the THP
  // deferred-split shrinker splits the partly unmapped huge pages and frees
  // their unmapped parts. The limit is lifted again at once; while it is
  // low this process allocates nothing.
  void reclaim_to(size_t keep) {
    write_str((dir + "/" + limit_file).c_str(), std::to_string(keep));  // EBUSY: as far as it got
    write_str((dir + "/" + limit_file).c_str(), unlimited);
  }

  // Back to the parent (CMD runs there); the pinned pages stay charged here.
  void leave() { write_str((parent + "/cgroup.procs").c_str(), std::to_string(getpid())); }

  void remove() {
    if (!dir.empty()) {
      leave();
      rmdir(dir.c_str());
    }
  }
};

struct Result {
  size_t blocks = 0;
  long before = 0, after = 0;
  double seconds = 0;
  const char* stopped_by = "no free 2 MiB block left";
};

// Takes `len` bytes (a multiple of 2 MiB) of free blocks as THP, keeps one
// pinned page in each and frees the rest. Returns the huge share (bytes),
// or -1 when the chunk could not be mapped or populated.
long take_blocks(MemoryCgroup& cgroup, size_t len, Result* res) {
  void* raw = mmap(nullptr, len + kBlock, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) return -1;
  uintptr_t base = (reinterpret_cast<uintptr_t>(raw) + kBlock - 1) & ~(kBlock - 1);
  // Trim to exactly [base, base + len) so the VMA is the chunk alone.
  if (base > reinterpret_cast<uintptr_t>(raw)) munmap(raw, base - reinterpret_cast<uintptr_t>(raw));
  uintptr_t raw_end = reinterpret_cast<uintptr_t>(raw) + len + kBlock;
  if (raw_end > base + len) munmap(reinterpret_cast<void*>(base + len), raw_end - base - len);
  void* p = reinterpret_cast<void*>(base);
  if (madvise(p, len, MADV_HUGEPAGE) != 0 || madvise(p, len, MADV_POPULATE_WRITE) != 0) {
    munmap(p, len);
    return -1;
  }
  size_t huge = anon_huge_bytes(base);
  for (uintptr_t b = base; b < base + len; b += kBlock) {
    madvise(reinterpret_cast<void*>(b + kPage), kBlock - kPage, MADV_DONTNEED);
    mlock(reinterpret_cast<void*>(b), kPage);
  }
  g_chunks.emplace_back(p, len);
  res->blocks += len / kBlock;
  cgroup.reclaim_to(res->blocks * kPage + (size_t{8} << 20));
  return static_cast<long>(huge);
}

// The next chunk to take: free blocks beyond `leave`, within the bounds;
// 0 (and why in res->stopped_by) when there is none to take.
size_t next_chunk(size_t done, size_t max_bytes, long floor_kb, long leave, Result* res) {
  long free_blocks = free_2m_blocks();
  if (free_blocks <= leave) return 0;
  if (done >= max_bytes) {
    res->stopped_by = "--max-gib reached";
    return 0;
  }
  long avail = meminfo_kb("MemAvailable:");
  if (avail >= 0 && avail < floor_kb + static_cast<long>(kChunk >> 10)) {
    res->stopped_by = "MemAvailable at --floor-mib";
    return 0;
  }
  size_t len = kChunk;
  if (static_cast<size_t>(free_blocks - leave) * kBlock < len) len = static_cast<size_t>(free_blocks - leave) * kBlock;
  if (max_bytes - done < len) len = max_bytes - done;
  return len & ~(kBlock - 1);
}

// Takes free 2 MiB blocks chunk by chunk until none is left (a few, which
// the kernel keeps back from THP at its watermarks, stay free).
// The chunks stay mapped (the pinned pages live there) until exit.
void fragment(MemoryCgroup& cgroup, size_t max_bytes, long floor_kb, Result* res) {
  auto t0 = std::chrono::steady_clock::now();
  res->before = free_2m_blocks();
  while (!g_stop) {
    size_t len = next_chunk(res->blocks * kBlock, max_bytes, floor_kb, 2, res);
    if (len == 0) break;
    long huge = take_blocks(cgroup, len, res);
    if (huge < 0) {
      res->stopped_by = "THP chunk could not be mapped or populated";
      break;
    }
    if (static_cast<size_t>(huge) * 2 < len) {  // the kernel no longer finds free blocks: done
      res->stopped_by = "THP share of a chunk below 50%";
      break;
    }
  }
  res->after = free_2m_blocks();
  res->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// While CMD runs, other programs free memory and whole blocks come back:
// take them too, every 20 ms, within the same bounds.
struct KeepUp {
  MemoryCgroup* cgroup;
  size_t max_bytes;
  long floor_kb;
  Result* res;
  size_t blocks_at_start = 0;
  std::atomic<bool> done{false};

  void run() {
    blocks_at_start = res->blocks;
    while (!g_stop && !done) {
      Result scratch;  // keep-up misses are not reasons to report
      size_t len = next_chunk(res->blocks * kBlock, max_bytes, floor_kb, 2, &scratch);
      if (len == 0 || take_blocks(*cgroup, len, res) < 0) usleep(20000);
    }
  }
  static void* thread(void* self) {
    static_cast<KeepUp*>(self)->run();
    return nullptr;
  }
};

int usage() {
  fprintf(stderr,
          "usage: fragment-memory [--max-gib G] [--floor-mib M] [--movable] [--no-compaction] [--hold | -- CMD ARGS...]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  double max_gib = 0;
  long floor_mib = 2048;
  bool movable = false, hold = false, no_compaction = false;
  int cmd_at = -1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    char* end = nullptr;
    if (a == "--max-gib" && i + 1 < argc) {
      max_gib = strtod(argv[++i], &end);
      if (*end || max_gib <= 0) {
        fprintf(stderr, "fragment-memory: --max-gib %s: expected a positive number of GiB\n", argv[i]);
        return 2;
      }
    } else if (a == "--floor-mib" && i + 1 < argc) {
      floor_mib = strtol(argv[++i], &end, 10);
      if (*end || floor_mib < 0) {
        fprintf(stderr, "fragment-memory: --floor-mib %s: expected a number of MiB >= 0\n", argv[i]);
        return 2;
      }
    } else if (a == "--movable") {
      movable = true;
    } else if (a == "--no-compaction") {
      no_compaction = true;
    } else if (a == "--hold") {
      hold = true;
    } else if (a == "--") {
      cmd_at = i + 1;
      break;
    } else {
      return usage();
    }
  }
  if (hold == (cmd_at > 0 && cmd_at < argc)) return usage();
  if (geteuid() != 0) {
    fprintf(stderr, "fragment-memory: needs root (a memory cgroup of its own, mlock, sysctl)\n");
    return 1;
  }
  std::string thp = read_all("/sys/kernel/mm/transparent_hugepage/enabled");
  if (thp.find("[never]") != std::string::npos) {
    fprintf(stderr, "fragment-memory: THP is 'never' on this host: nothing to fragment with\n");
    return 1;
  }
  struct sigaction sa = {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);

  MemoryCgroup cgroup;
  if (std::string why = cgroup.enter(); !why.empty()) {
    fprintf(stderr, "fragment-memory: %s\n", why.c_str());
    return 1;
  }
  Sysctl unevictable(kUnevictable), extfrag(kExtfrag);
  if (!movable) unevictable.set("0");
  // Without compaction the tool takes only the blocks that are free now;
  // with it, its own THP faults would also compact other programs' pages
  // into blocks for it (slower, and far more pinned pages).
  if (no_compaction) extfrag.set("1000");

  Result res;
  size_t max_bytes = max_gib > 0 ? static_cast<size_t>(max_gib * (1 << 30)) : SIZE_MAX;
  int status = 1;
  fragment(cgroup, max_bytes, floor_mib << 10, &res);
  KeepUp keep_up{&cgroup, max_bytes, floor_mib << 10, &res};
  fprintf(stderr,
          "fragment-memory: {\"blocks\":%zu,\"pinned_bytes\":%zu,\"free_2m_blocks_before\":%ld,"
          "\"free_2m_blocks_after\":%ld,\"seconds\":%.2f,\"unmovable\":%s,\"no_compaction\":%s,\"stopped_by\":\"%s\"}\n",
          res.blocks, res.blocks * kPage, res.before, res.after, res.seconds, movable ? "false" : "true",
          no_compaction ? "true" : "false",
          res.stopped_by);
  if (hold) {
    keep_up.run();
    status = 0;
  } else if (!g_stop) {
    pid_t pid = fork();
    if (pid == 0) {
      cgroup.leave();  // CMD runs where the tool was started
      execvp(argv[cmd_at], argv + cmd_at);
      fprintf(stderr, "fragment-memory: %s: %s\n", argv[cmd_at], strerror(errno));
      _exit(127);
    }
    g_child = pid;
    pthread_t tid;
    bool keeping_up = pid > 0 && pthread_create(&tid, nullptr, KeepUp::thread, &keep_up) == 0;
    int ws = 0;
    while (pid > 0 && waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
    }
    keep_up.done = true;
    if (keeping_up) pthread_join(tid, nullptr);
    status = pid < 0 ? 1 : WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
  }
  if (g_stop && status == 1) status = 128 + g_stop;
  if (res.blocks > keep_up.blocks_at_start && keep_up.blocks_at_start)
    fprintf(stderr, "fragment-memory: kept up: %zu more blocks freed by other programs taken while it ran\n",
            res.blocks - keep_up.blocks_at_start);
  unevictable.restore();
  extfrag.restore();
  for (const auto& [addr, len] : g_chunks) munmap(addr, len);
  cgroup.remove();
  return status;
}
