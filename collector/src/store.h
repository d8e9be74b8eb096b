// The SQLite file a recording lands in (schema in docs/RING.md).
//
// Drained slots go in two steps. stage_slots() writes a batch as one raw
// BLOB row (cheap: the ring is freed at memory speed, so a collector short
// of CPU does not make producers drop); expand_staged_batch() later turns
// the oldest batch into events/skipped_slots rows and deletes it, in one
// transaction. Both steps are idempotent: a batch is keyed by (process,
// first ring position) and a re-read batch starting at the same position is
// a superset that replaces it; events and skipped slots are keyed by
// (process, ring position) and inserted with OR IGNORE. So a collector that
// dies after committing a batch but before releasing its slots re-reads
// them on restart and nothing is lost or doubled. Processes are keyed by
// pid + start time; totals are replaced by newer snapshots.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "process_probe.h"
#include "ring_reader.h"
#include "sqlite_db.h"

namespace hugeshim::collector {

enum class ProcessState { running, exited, killed, execed };
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

  // Stages drained slots as one batch (inside begin()/commit()).
  void stage_slots(int64_t process_id, const DrainedSlot* slots, size_t count);
  // Expands the oldest staged batch in its own transaction; false when
  // none is left.
  bool expand_staged_batch();
  // Stores drained slots directly: records in events, invalid and torn
  // slots in skipped_slots. `maps` resolves caller addresses.
  void add_slots(int64_t process_id, const DrainedSlot* slots, size_t count, const std::vector<Mapping>& maps);
  void set_totals(int64_t process_id, const RingTotals& totals);
  void set_mappings(int64_t process_id, const std::vector<Mapping>& maps);
  void set_state(int64_t process_id, ProcessState state, uint64_t exit_monotonic_ns);

  Database& db() { return db_; }

 private:
  Database db_;
  std::optional<Statement> insert_event_;    // prepared once: the hot path
  std::optional<Statement> insert_skipped_;
  std::map<int64_t, std::vector<Mapping>> maps_cache_;  // per process, from the mappings table
};

}  // namespace hugeshim::collector
