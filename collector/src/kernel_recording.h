// `--kernel` of `hugeshim record` and `hugeshim run`: a kernel trace
// session (kernel_trace_session.h) whose events are read into the
// recording between ring drains, a few pages per CPU at a time, in one
// transaction per read.
#pragma once

#include <chrono>
#include <memory>
#include <ostream>
#include <string>
#include <sys/types.h>
#include <vector>

#include "kernel_store.h"
#include "kernel_trace_session.h"
#include "store.h"

namespace hugeshim::collector {

class KernelRecording {
 public:
  // Starts the session and writes its kernel_trace row; nullptr (after one
  // line on `messages`) when kernel events cannot be recorded here.
  static std::unique_ptr<KernelRecording> start(Store& store, const std::string& who, std::ostream& messages);

  // Follows a process (and the threads it has now) from here on.
  void follow(pid_t pid) { session_->follow(pid); }
  // Reads a few pages of each kernel buffer into the recording when the
  // last read is 10 ms old or more.
  void poll();
  // Stops tracing, reads what is left, finishes the kernel_trace row and
  // removes the tracefs instance.
  void finish();

  uint64_t events() const { return events_; }
  uint64_t lost() const { return lost_; }
  const std::string& instance() const { return instance_; }

 private:
  KernelRecording(Store& store, std::unique_ptr<KernelTraceSession> session);
  void read_into_store(size_t max_pages);

  Store& store_;
  std::unique_ptr<KernelTraceSession> session_;
  KernelStore tables_;
  int64_t trace_id_ = 0;
  std::string instance_;
  std::vector<KernelEvent> batch_;
  std::chrono::steady_clock::time_point next_read_;
  uint64_t events_ = 0, lost_ = 0;
};

}  // namespace hugeshim::collector
