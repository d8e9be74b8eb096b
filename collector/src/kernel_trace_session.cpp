#include "kernel_trace_session.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hugeshim::collector {

// What a THP populate, a hugetlb populate and lazily touched hugetlb
// memory show on this kernel (docs/OBSERVABILITY.md, "Kernel events").
const std::vector<WantedEvent> kWantedEvents = {
    // Direct compaction inside an allocation: its span, why, and the pages moved.
    {"compaction", "mm_compaction_try_to_compact_pages", nullptr},
    {"compaction", "mm_compaction_begin", nullptr},
    {"compaction", "mm_compaction_end", nullptr},
    {"compaction", "mm_compaction_finished", nullptr},
    {"compaction", "mm_compaction_suitable", nullptr},
    {"compaction", "mm_compaction_deferred", nullptr},
    {"compaction", "mm_compaction_defer_compaction", nullptr},
    {"compaction", "mm_compaction_defer_reset", nullptr},
    {"compaction", "mm_compaction_migratepages", nullptr},
    // Direct reclaim, which a THP fault enters before compacting (defrag=madvise).
    {"vmscan", "mm_vmscan_direct_reclaim_begin", nullptr},
    {"vmscan", "mm_vmscan_direct_reclaim_end", nullptr},
    {"huge_memory", "*", nullptr},
    {"hugetlbfs", "*", nullptr},
    // Huge page allocations only: one record per 2 MiB (or larger) page.
    // Base pages would be one record per 4 KiB, 262144 per GiB populated.
    {"kmem", "mm_page_alloc", "order >= 9"},
    // A user page fault: one per touched page (a hugetlb page is mapped
    // whole by its first touch). Populate (MADV_POPULATE_*, MAP_POPULATE,
    // mlock, pinning) faults pages in the kernel: no record then.
    {"exceptions", "page_fault_user", nullptr},
    {"iommu", "map", nullptr},
    {"iommu", "unmap", nullptr},
    {"iommu", "io_page_fault", nullptr},
    {"dma", "dma_map_sg", nullptr},
    {"dma", "dma_map_sg_err", nullptr},
    {"dma", "dma_map_phys", nullptr},
    {"dma", "dma_unmap_sg", nullptr},
    {"dma", "dma_unmap_phys", nullptr},
    // Which threads and children belong to the recorded processes, and
    // when a thread id stops being theirs (ids are reused).
    {"sched", "sched_process_fork", nullptr},
    {"sched", "sched_process_exit", nullptr},
};

namespace {

constexpr const char* kInstancePrefix = "hugeshim-";

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "";
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool is_dir(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> names;
  if (DIR* d = opendir(path.c_str())) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') names.emplace_back(e->d_name);
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

// The number of the line "key: N" of a per_cpu stats file; 0 when absent.
uint64_t stat_value(const std::string& text, const std::string& key) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line))
    if (line.compare(0, key.size() + 1, key + ":") == 0) return strtoull(line.c_str() + key.size() + 1, nullptr, 10);
  return 0;
}

// An integer field of a decoded record's JSON ({"child_pid":123,...}).
std::optional<int32_t> json_int(const std::string& fields, const std::string& name) {
  const std::string key = "\"" + name + "\":";
  const size_t at = fields.find(key);
  if (at == std::string::npos) return std::nullopt;
  return static_cast<int32_t>(strtol(fields.c_str() + at + key.size(), nullptr, 10));
}

// Instances named hugeshim-<pid> whose collector is gone (killed before
// it could remove its own).
void remove_stale_instances(const std::string& root) {
  for (const std::string& name : list_dir(root + "/instances")) {
    if (name.rfind(kInstancePrefix, 0) != 0) continue;
    char* end = nullptr;
    const long pid = strtol(name.c_str() + strlen(kInstancePrefix), &end, 10);
    if (!end || *end || pid <= 0) continue;
    if (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) rmdir((root + "/instances/" + name).c_str());
  }
}

}  // namespace

std::string iommu_presence(const std::string& sysfs_class_iommu) {
  DIR* d = opendir(sysfs_class_iommu.c_str());
  if (!d) return "unknown";
  bool any = false;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') any = true;
  closedir(d);
  return any ? "present" : "none";
}

std::unique_ptr<KernelTraceSession> KernelTraceSession::start(const std::string& who, std::ostream& messages,
                                                              size_t buffer_kb_per_cpu, const std::string& tracefs) {
  const char* without = "; recording without kernel events\n";
  if (geteuid() != 0) {
    messages << who << ": --kernel needs root (tracefs)" << without;
    return nullptr;
  }
  const std::string root = tracefs.empty() ? "/sys/kernel/tracing" : tracefs;
  if (!is_dir(root + "/events") && tracefs.empty() && mount("nodev", root.c_str(), "tracefs", 0, nullptr) != 0) {
    messages << who << ": --kernel needs tracefs, and mounting it on " << root << " failed: " << strerror(errno)
             << without;
    return nullptr;
  }
  std::unique_ptr<KernelTraceSession> s(new KernelTraceSession());
  s->root_ = root;
  auto layout = parse_header_page(read_text(root + "/events/header_page"));
  auto types = parse_header_event(read_text(root + "/events/header_event"));
  if (!layout || !types) {
    messages << who << ": --kernel: " << root << "/events/header_page or header_event is missing or not understood"
             << without;
    return nullptr;
  }
  s->layout_ = *layout;
  s->types_ = *types;
  remove_stale_instances(root);
  const std::string instance = root + "/instances/" + kInstancePrefix + std::to_string(getpid());
  if (mkdir(instance.c_str(), 0700) != 0) {
    messages << who << ": --kernel: cannot create the tracefs instance " << instance << ": " << strerror(errno)
             << without;
    return nullptr;
  }
  s->instance_ = instance;  // from here on the destructor removes it
  s->buffer_kb_ = buffer_kb_per_cpu;
  // Off until the first process is followed: an empty set_event_pid
  // would let every process's events in.
  if (!s->write("tracing_on", "0") || !s->write("trace_clock", "mono") ||
      !s->write("buffer_size_kb", std::to_string(buffer_kb_per_cpu)) || !s->write("options/overwrite", "0") ||
      !s->write("options/event-fork", "1")) {
    messages << who << ": --kernel: cannot configure the tracefs instance " << instance << ": " << strerror(errno)
             << without;
    return nullptr;
  }
  if (const std::string kb = read_text(instance + "/buffer_subbuf_size_kb"); !kb.empty())
    s->page_bytes_ = std::max<size_t>(strtoull(kb.c_str(), nullptr, 10) * 1024, 4096);
  else
    s->page_bytes_ = size_t{s->layout_.data_offset} + s->layout_.data_size;
  s->page_.resize(s->page_bytes_);
  s->enable_events(who, messages);
  if (s->enabled_.empty()) {
    messages << who << ": --kernel: none of the kernel events is available" << without;
    return nullptr;
  }
  for (const std::string& name : list_dir(instance + "/per_cpu")) {
    if (name.rfind("cpu", 0) != 0) continue;
    const std::string dir = instance + "/per_cpu/" + name;
    const int fd = open((dir + "/trace_pipe_raw").c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) continue;
    s->cpus_.push_back({static_cast<uint32_t>(strtoul(name.c_str() + 3, nullptr, 10)), fd, dir + "/stats", 0});
  }
  if (s->cpus_.empty()) {
    messages << who << ": --kernel: cannot open " << instance << "/per_cpu/cpu*/trace_pipe_raw" << without;
    return nullptr;
  }
  s->started_ns_ = monotonic_ns();
  return s;
}

KernelTraceSession::~KernelTraceSession() {
  if (instance_.empty()) return;
  write("tracing_on", "0");
  for (Cpu& c : cpus_) close(c.fd);
  // The kernel refuses while a file of the instance is open; ours are closed.
  rmdir(instance_.c_str());
}

bool KernelTraceSession::write(const std::string& file, const std::string& value, bool append) {
  const int fd = open((instance_ + "/" + file).c_str(), O_WRONLY | O_CLOEXEC | (append ? O_APPEND : O_TRUNC));
  if (fd < 0) return false;
  const bool ok = ::write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
  const int saved = errno;
  close(fd);
  errno = saved;
  return ok;
}

void KernelTraceSession::enable_events(const std::string& who, std::ostream& messages) {
  for (const WantedEvent& w : kWantedEvents) {
    std::vector<std::string> names;
    if (std::string(w.name) == "*") {
      for (const std::string& n : list_dir(instance_ + "/events/" + w.system))
        if (is_dir(instance_ + "/events/" + w.system + "/" + n)) names.push_back(n);
    } else {
      names.push_back(w.name);
    }
    if (names.empty()) {
      missing_.push_back(std::string(w.system) + ":" + w.name);
      messages << who << ": kernel event " << missing_.back() << " not available; recording without it\n";
    }
    for (const std::string& n : names) {
      const std::string full = std::string(w.system) + ":" + n, dir = std::string("events/") + w.system + "/" + n;
      auto format = parse_event_format(read_text(instance_ + "/" + dir + "/format"), w.system);
      const bool ok = format && (!w.filter || write(dir + "/filter", w.filter)) && write(dir + "/enable", "1");
      if (!ok) {
        missing_.push_back(full);
        messages << who << ": kernel event " << full << " not available; recording without it\n";
        continue;
      }
      if (full == "sched:sched_process_fork") fork_id_ = format->id;
      if (full == "sched:sched_process_exit") exit_id_ = format->id;
      names_[format->id] = full;
      formats_.emplace(format->id, std::move(*format));
      enabled_.push_back(full);
    }
  }
}

void KernelTraceSession::add_thread(int32_t tid, std::optional<int32_t> tgid) {
  followed_[tid] = UINT64_MAX;
  if (tgid) tgid_[tid] = tgid;
  else tgid_.erase(tid);  // a new thread under a reused id: looked up again
}

bool KernelTraceSession::is_followed(int32_t tid, uint64_t ts) const {
  auto it = followed_.find(tid);
  return it != followed_.end() && ts <= it->second;
}

void KernelTraceSession::follow(pid_t pid) {
  std::string tids;
  add_thread(pid, pid);
  for (const std::string& t : list_dir("/proc/" + std::to_string(pid) + "/task")) {
    const int32_t tid = static_cast<int32_t>(strtol(t.c_str(), nullptr, 10));
    if (tid <= 0) continue;
    add_thread(tid, pid);
    tids += t + " ";
  }
  if (tids.empty()) tids = std::to_string(pid);
  write("set_event_pid", tids, /*append=*/true);
  if (!stopped_) write("tracing_on", "1");
}

std::optional<int32_t> KernelTraceSession::thread_group(int32_t tid) {
  if (auto it = tgid_.find(tid); it != tgid_.end()) return it->second;
  std::optional<int32_t> tgid;
  const std::string status = read_text("/proc/" + std::to_string(tid) + "/status");
  if (const size_t at = status.find("\nTgid:"); at != std::string::npos)
    tgid = static_cast<int32_t>(strtol(status.c_str() + at + 6, nullptr, 10));
  tgid_[tid] = tgid;
  return tgid;
}

uint64_t KernelTraceSession::read_cpu(Cpu& cpu, std::vector<KernelEvent>* out, size_t max_pages, uint64_t emptied_at) {
  // Bounded: a buffer that fills as fast as it is read is cut at its size
  // in pages, and the rest waits for the next read.
  const size_t whole = buffer_kb_ * 1024 / page_bytes_ + 2;
  if (max_pages == 0 || max_pages > whole) max_pages = whole;
  uint64_t newest = 0;
  for (size_t n = 0;; ++n) {
    if (n == max_pages) return newest;
    const ssize_t got = ::read(cpu.fd, page_.data(), page_.size());
    if (got <= 0) return emptied_at;  // EAGAIN: empty for now
    const RingPage page = parse_ring_page(page_.data(), static_cast<size_t>(got), layout_, types_);
    if (page.damaged) ++damaged_;
    if (page.missed) cpu.missed_in_pages += page.missed_count;
    for (const RingRecord& r : page.records) {
      newest = std::max(newest, r.ts);
      if (formats_.empty()) break;
      const auto id = record_type(r.data, r.size, formats_.begin()->second);
      auto format = id ? formats_.find(*id) : formats_.end();
      KernelEvent e{r.ts, cpu.index, 0, std::nullopt, nullptr, {}};
      if (format == formats_.end() || !decode_event(format->second, r.data, r.size, &e.tid, &e.fields)) {
        ++damaged_;
        continue;
      }
      e.event = &names_[*id];
      out->push_back(std::move(e));
    }
  }
}

void KernelTraceSession::read(std::vector<KernelEvent>* out, size_t max_pages) {
  // A record of a thread not (yet) known waits until every CPU's buffer
  // has been read past its time: its fork record may sit in a buffer not
  // read that far yet. Still unknown then, it belongs to another process
  // (set_event_pid lets a few of those in) and is dropped. `horizon`: the
  // time up to which every buffer has been read.
  const uint64_t started_reading = monotonic_ns();
  uint64_t horizon = UINT64_MAX;
  std::vector<KernelEvent> fresh;
  for (Cpu& c : cpus_) horizon = std::min(horizon, read_cpu(c, &fresh, max_pages, started_reading));
  std::vector<KernelEvent> round;
  round.reserve(pending_.size() + fresh.size());
  for (KernelEvent& e : pending_) round.push_back(std::move(e));
  for (KernelEvent& e : fresh) round.push_back(std::move(e));
  pending_.clear();
  // In time order across CPUs, so a fork is seen before its child's events.
  std::stable_sort(round.begin(), round.end(), [](const auto& a, const auto& b) { return a.ts_ns < b.ts_ns; });
  const std::string* fork_name = fork_id_ ? &names_[*fork_id_] : nullptr;
  const std::string* exit_name = exit_id_ ? &names_[*exit_id_] : nullptr;
  for (KernelEvent& e : round) {
    const bool ours = is_followed(e.tid, e.ts_ns);
    if (ours && e.event == fork_name) {
      if (auto child = json_int(e.fields, "child_pid"); child && *child > 0) add_thread(*child, std::nullopt);
    }
    if (ours) {
      e.pid = thread_group(e.tid);
      if (e.event == exit_name) followed_[e.tid] = e.ts_ns;  // its id may come back as someone else's
      out->push_back(std::move(e));
    } else if (e.ts_ns < horizon || stopped_) {
      ++foreign_;
    } else {
      pending_.push_back(std::move(e));
    }
  }
}

void KernelTraceSession::stop() {
  stopped_ = true;
  write("tracing_on", "0");
}

uint64_t KernelTraceSession::lost() {
  uint64_t from_stats = 0, from_pages = 0;
  for (const Cpu& c : cpus_) {
    const std::string text = read_text(c.stats_path);
    from_stats += stat_value(text, "overrun") + stat_value(text, "commit overrun") + stat_value(text, "dropped events");
    from_pages += c.missed_in_pages;
  }
  return std::max(from_stats, from_pages) + damaged_;
}

}  // namespace hugeshim::collector
