#include "kernel_recording.h"

#include <ctime>

namespace hugeshim::collector {
namespace {

// Read at the drain cadence, a few pages per CPU each time: one read's
// inserts (~900 records at most) stay short next to the 10 ms drain period,
// so the rings are drained on time whatever the kernel produces. That is
// up to 8 x 100 pages (~90,000 records) per CPU and second; a faster
// producer fills its 4 MiB buffer (seconds of slack) and then loses
// records, counted in events_lost.
constexpr std::chrono::milliseconds kReadPeriod{10};
constexpr size_t kPagesPerRead = 8;

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

void KernelRecording::read_into_store(size_t max_pages) {
  batch_.clear();
  session_->read(&batch_, max_pages);
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
  read_into_store(kPagesPerRead);
}

void KernelRecording::finish() {
  if (!session_) return;
  session_->stop();
  read_into_store(0);  // everything left
  lost_ = session_->lost();
  store_.begin();
  tables_.finish_trace(trace_id_, monotonic_ns(), events_, lost_);
  store_.commit();
  session_.reset();  // removes the instance
}

}  // namespace hugeshim::collector
