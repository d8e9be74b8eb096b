// The kernel-trace tables of a recording (kernel_trace: one row per
// session; kernel_events: one row per kernel event of a recorded thread),
// created next to the base schema of store.cpp. Columns and their meaning:
// docs/OBSERVABILITY.md, "Kernel events (--kernel)".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kernel_trace_session.h"
#include "sqlite_db.h"

namespace hugeshim::collector {

struct KernelTraceRow {
  uint64_t started_ns = 0;
  uint32_t cpus = 0;
  uint64_t buffer_kb_per_cpu = 0;
  std::vector<std::string> events_enabled, events_missing;
  std::string iommu;  // 'present', 'none', 'unknown'
};

class KernelStore {
 public:
  // Creates the tables when absent.
  explicit KernelStore(Database& db);
  // Adds the session's row; returns its id.
  int64_t begin_trace(const KernelTraceRow& row);
  // Inserts events of one trace (inside the caller's transaction).
  void add_events(int64_t trace_id, const std::vector<KernelEvent>& events);
  // The session's end: its end time, events stored, events lost.
  void finish_trace(int64_t trace_id, uint64_t ended_ns, uint64_t events_read, uint64_t events_lost);

 private:
  Database& db_;
  std::optional<Statement> insert_;
};

}  // namespace hugeshim::collector
