#include "kernel_recording.h"

#include <ctime>

namespace hugeshim::collector {
namespace {

// 4 MiB per CPU fills in seconds even at the busiest fault rates measured
// here (kernel_trace_session.h); 100 ms keeps each read's batch small.
constexpr std::chrono::milliseconds kReadPeriod{100};

uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

}  // namespace

std::unique_ptr<KernelRecording> KernelRecording::start(Store& store, const std::string& who, std::ostream& messages) {
  auto session = KernelTraceSession::start(who, messages);
  if (!session) return nullptr;
  return std::unique_ptr<KernelRecording>(new KernelRecording(store, std::move(session)));
}

KernelRecording::KernelRecording(Store& store, std::unique_ptr<KernelTraceSession> session)
    : store_(store), session_(std::move(session)), tables_(store.db()), instance_(session_->instance()) {
  KernelTraceRow row;
  row.started_ns = session_->started_ns();
  row.cpus = session_->cpus();
  row.buffer_kb_per_cpu = session_->buffer_kb_per_cpu();
  row.events_enabled = session_->enabled();
  row.events_missing = session_->missing();
  row.iommu = iommu_presence();
  store_.begin();
  trace_id_ = tables_.begin_trace(row);
  store_.commit();
  next_read_ = std::chrono::steady_clock::now() + kReadPeriod;
}

void KernelRecording::read_into_store() {
  batch_.clear();
  session_->read(&batch_);
  if (batch_.empty()) return;
  store_.begin();
  tables_.add_events(trace_id_, batch_);
  store_.commit();
  events_ += batch_.size();
}

void KernelRecording::poll() {
  if (!session_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now < next_read_) return;
  next_read_ = now + kReadPeriod;
  read_into_store();
}

void KernelRecording::finish() {
  if (!session_) return;
  session_->stop();
  read_into_store();
  lost_ = session_->lost();
  store_.begin();
  tables_.finish_trace(trace_id_, monotonic_ns(), events_, lost_);
  store_.commit();
  session_.reset();  // removes the instance
}

}  // namespace hugeshim::collector
