// A kernel trace session of `hugeshim record --kernel` / `run --kernel`: a
// tracefs instance of its own (instances/hugeshim-<pid>: the global buffer,
// other tools' instances and global settings are never touched), with
// trace_clock mono (CLOCK_MONOTONIC, the clock of the shim's events), a
// bounded per-CPU buffer, the events of kWantedEvents that this kernel has,
// and a pid filter that follows forks (set_event_pid + event-fork). Its
// per-CPU binary buffers (trace_pipe_raw) are read with non-blocking reads
// and decoded with the kernel's format files. The instance is removed when
// the session ends (destructor: normal end, SIGINT/SIGTERM ending the
// recording, exceptions); one left behind by a killed collector is removed
// by the next session.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <sys/types.h>
#include <vector>

#include "ring_buffer_page.h"
#include "trace_event_format.h"

namespace hugeshim::collector {

struct KernelEvent {
  uint64_t ts_ns;
  uint32_t cpu;
  int32_t tid;
  std::optional<int32_t> pid;  // thread group id, when known
  const std::string* event;    // "system:name", owned by the session
  std::string fields;          // JSON object
};

// An event the session asks for, with an optional filter (tracefs filter
// syntax) that keeps its volume bounded.
struct WantedEvent {
  const char* system;
  const char* name;  // "*": every event of the system
  const char* filter;
};
extern const std::vector<WantedEvent> kWantedEvents;

// The default per-CPU buffer: 4 MiB holds ~100k page-fault records (36
// bytes each) per CPU, seconds of the busiest fault rate measured here,
// between two reads 100 ms apart.
inline constexpr size_t kDefaultBufferKbPerCpu = 4096;

class KernelTraceSession {
 public:
  // Sets the session up, or returns nullptr after one line on `messages`,
  // prefixed with `who` ("hugeshim record"), saying why (not root, no
  // tracefs, an instance that cannot be made). Missing events are reported
  // once each and skipped. `tracefs` "": /sys/kernel/tracing, mounted when
  // it is not.
  static std::unique_ptr<KernelTraceSession> start(const std::string& who, std::ostream& messages,
                                                   size_t buffer_kb_per_cpu = kDefaultBufferKbPerCpu,
                                                   const std::string& tracefs = "");
  ~KernelTraceSession();
  KernelTraceSession(const KernelTraceSession&) = delete;

  // Adds a process and every thread it has now; its later threads and
  // children are followed by the kernel (event-fork) and here (fork events).
  void follow(pid_t pid);
  // Reads each per-CPU buffer until it is empty, or at most `max_pages`
  // pages of it (0: no limit), and appends the decoded events of followed
  // threads to `out`.
  void read(std::vector<KernelEvent>* out, size_t max_pages = 0);
  // Stops tracing (what the buffers hold can still be read).
  void stop();

  uint32_t cpus() const { return static_cast<uint32_t>(cpus_.size()); }
  size_t buffer_kb_per_cpu() const { return buffer_kb_; }
  const std::vector<std::string>& enabled() const { return enabled_; }
  const std::vector<std::string>& missing() const { return missing_; }
  const std::string& instance() const { return instance_; }
  uint64_t started_ns() const { return started_ns_; }
  // Events the kernel could not keep (overrun, commit overrun and dropped
  // events of per_cpu/cpuN/stats, or the missed counts of the pages when
  // larger) plus records found damaged here.
  uint64_t lost();
  // Records of threads outside the recorded processes that reached the
  // buffer anyway and were dropped here.
  uint64_t foreign() const { return foreign_; }

 private:
  struct Cpu {
    uint32_t index;
    int fd;
    std::string stats_path;
    uint64_t missed_in_pages = 0;
  };
  KernelTraceSession() = default;
  bool write(const std::string& file, const std::string& value, bool append = false);
  void enable_events(const std::string& who, std::ostream& messages);
  // Reads one CPU's buffer; returns the newest time read from it, or
  // `emptied_at` when the buffer was read to its end.
  uint64_t read_cpu(Cpu& cpu, std::vector<KernelEvent>* out, size_t max_pages, uint64_t emptied_at);
  std::optional<int32_t> thread_group(int32_t tid);
  void add_thread(int32_t tid, std::optional<int32_t> tgid);
  bool is_followed(int32_t tid, uint64_t ts) const;

  std::string root_;      // the tracefs mount
  std::string instance_;  // root_/instances/hugeshim-<pid>
  size_t buffer_kb_ = 0;
  size_t page_bytes_ = 4096;
  uint64_t started_ns_ = 0;
  PageLayout layout_;
  RecordTypes types_;
  std::map<uint32_t, EventFormat> formats_;  // by event id
  std::map<uint32_t, std::string> names_;    // by event id: "system:name"
  std::optional<uint32_t> fork_id_;          // sched:sched_process_fork
  std::optional<uint32_t> exit_id_;          // sched:sched_process_exit
  std::vector<std::string> enabled_, missing_;
  std::vector<Cpu> cpus_;
  std::vector<uint8_t> page_;
  // Followed thread ids, each up to the time its exit record was read
  // (UINT64_MAX while it runs): an id that comes back later is someone else's.
  std::map<int32_t, uint64_t> followed_;
  std::map<int32_t, std::optional<int32_t>> tgid_;      // tid -> tgid cache
  std::vector<KernelEvent> pending_;  // unknown tids, kept until every CPU's fork records up to them are read
  uint64_t damaged_ = 0, foreign_ = 0;
  bool stopped_ = false;
};

// 'present' when /sys/class/iommu has an entry, 'none' when it has none,
// 'unknown' when it cannot be read.
std::string iommu_presence(const std::string& sysfs_class_iommu = "/sys/class/iommu");

}  // namespace hugeshim::collector
