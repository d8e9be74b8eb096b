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
#include <stdexcept>
#include <string>
#include <vector>

#include "process_probe.h"
#include "ring_reader.h"
#include "sqlite_db.h"

namespace hugeshim::collector {

enum class ProcessState { running, exited, killed, execed };
const char* process_state_name(ProcessState s);

// Every recording carries this SQLite application_id ("HgSh"): it tells a
// recording from any other file before a byte of it is changed.
inline constexpr int32_t kRecordingApplicationId = 0x48675368;

// A file a command will not use, found before anything was done: the
// command prints the message and exits with status 2.
class RefusedFile : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What a path holds. `other`: anything but a recording or an empty file
// (`what` says what instead). A recording is an SQLite file with our
// application_id, or one written before recordings had it (application_id 0
// and the meta, processes and events tables).
struct FileKind {
  enum Kind { absent, empty, recording, other } kind;
  std::string what;
};
FileKind inspect_file(const std::string& path);

// Checks that `path` may receive a recording: throws RefusedFile when it
// exists and is not a recording or an empty file, or when its directory
// cannot be written (SQLite writes FILE-wal and FILE-shm beside FILE).
// Changes nothing.
FileKind::Kind check_output(const std::string& path);

class Store {
 public:
  // Opens the recording at `path`, creating it when absent or empty. An
  // existing recording is appended to, or removed first when `replace`.
  // Throws RefusedFile (see check_output) before touching anything else.
  Store(const std::string& path, bool replace);

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
  // The largest process id so far (0: none): processes added later have
  // larger ones.
  int64_t last_process_id();

  Database& db() { return db_; }

 private:
  Database db_;
  std::optional<Statement> insert_event_;    // prepared once: the hot path
  std::optional<Statement> insert_skipped_;
  std::map<int64_t, std::vector<Mapping>> maps_cache_;  // per process, from the mappings table
};

}  // namespace hugeshim::collector
