// The SQLite file a recording lands in (schema in docs/RING.md). Writes are
// idempotent: events and skipped slots are keyed by (process, ring
// position) and inserted with OR IGNORE, processes by pid + start time, and
// totals are replaced by newer snapshots. A collector that dies after
// committing a batch but before releasing its slots re-reads them on restart
// and the second insert changes nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "process_probe.h"
#include "ring_reader.h"
#include "sqlite_db.h"

namespace hugeshim::collector {

enum class ProcessState { running, exited, killed };
const char* process_state_name(ProcessState s);

class Store {
 public:
  // Opens (creating when missing) the file; `fresh` empties it first.
  Store(const std::string& path, bool fresh);

  // Finds or adds the process of a segment; returns its id.
  int64_t process(const RingIdentity& id);

  // One transaction around each drained batch: the slots are released to
  // the producer only after commit() returned.
  void begin();
  void commit();

  // Stores drained slots: records in events, invalid and torn slots in
  // skipped_slots. `maps` resolves caller addresses.
  void add_slots(int64_t process_id, const DrainedSlot* slots, size_t count, const std::vector<Mapping>& maps);
  void set_totals(int64_t process_id, const RingTotals& totals);
  void set_mappings(int64_t process_id, const std::vector<Mapping>& maps);
  void set_state(int64_t process_id, ProcessState state, uint64_t exit_monotonic_ns);

  Database& db() { return db_; }

 private:
  Database db_;
  std::optional<Statement> insert_event_;    // prepared once: the hot path
  std::optional<Statement> insert_skipped_;
};

}  // namespace hugeshim::collector
