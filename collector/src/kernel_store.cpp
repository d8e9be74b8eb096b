#include "kernel_store.h"

#include <nlohmann/json.hpp>

namespace hugeshim::collector {
namespace {

constexpr const char* kKernelSchema = R"sql(
CREATE TABLE IF NOT EXISTS kernel_trace (
  id INTEGER PRIMARY KEY,
  started_ns INTEGER NOT NULL, ended_ns INTEGER,
  cpus INTEGER NOT NULL, buffer_kb_per_cpu INTEGER NOT NULL,
  events_enabled TEXT NOT NULL,
  events_missing TEXT NOT NULL,
  events_read INTEGER NOT NULL DEFAULT 0,
  events_lost INTEGER NOT NULL DEFAULT 0,
  iommu TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS kernel_events (
  id INTEGER PRIMARY KEY,
  trace_id INTEGER NOT NULL,
  ts_ns INTEGER NOT NULL,
  cpu INTEGER NOT NULL,
  tid INTEGER NOT NULL,
  pid INTEGER,
  event TEXT NOT NULL,
  fields TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS kernel_events_by_tid ON kernel_events(tid, ts_ns);
)sql";

std::string json_array(const std::vector<std::string>& names) {
  return nlohmann::json(names).dump();
}

}  // namespace

KernelStore::KernelStore(Database& db) : db_(db) {
  db_.exec(kKernelSchema);
  insert_.emplace(db_.prepare(
      "INSERT INTO kernel_events (trace_id, ts_ns, cpu, tid, pid, event, fields) VALUES (?1,?2,?3,?4,?5,?6,?7)"));
}

int64_t KernelStore::begin_trace(const KernelTraceRow& row) {
  Statement q = db_.prepare(
      "INSERT INTO kernel_trace (started_ns, cpus, buffer_kb_per_cpu, events_enabled, events_missing, iommu) "
      "VALUES (?1,?2,?3,?4,?5,?6)");
  q.bind(1, row.started_ns).bind(2, row.cpus).bind(3, row.buffer_kb_per_cpu);
  q.bind(4, json_array(row.events_enabled)).bind(5, json_array(row.events_missing)).bind(6, row.iommu);
  q.run();
  return sqlite3_last_insert_rowid(db_.handle());
}

void KernelStore::add_events(int64_t trace_id, const std::vector<KernelEvent>& events) {
  Statement& q = *insert_;
  for (const KernelEvent& e : events) {
    q.bind(1, trace_id).bind(2, e.ts_ns).bind(3, e.cpu).bind(4, e.tid);
    if (e.pid) q.bind(5, *e.pid);
    else q.bind_null(5);
    q.bind_static(6, *e.event).bind_static(7, e.fields);  // both outlive the step
    q.run();
  }
}

void KernelStore::finish_trace(int64_t trace_id, uint64_t ended_ns, uint64_t events_read, uint64_t events_lost) {
  Statement q = db_.prepare("UPDATE kernel_trace SET ended_ns = ?2, events_read = ?3, events_lost = ?4 WHERE id = ?1");
  q.bind(1, trace_id).bind(2, ended_ns).bind(3, events_read).bind(4, events_lost);
  q.run();
}

}  // namespace hugeshim::collector
