#include "store.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <utility>
#include <sys/stat.h>
#include <unistd.h>

#include "hugeshim/events.h"

namespace hugeshim::collector {
namespace {

constexpr const char* kSchema = R"sql(
-- Large pages: a staged batch (4096 x 200 bytes) spans 13 pages, not 200.
-- Only takes effect when the file is new.
PRAGMA page_size = 65536;
PRAGMA journal_mode = WAL;
-- Durable against a collector crash (the OS keeps what was written); only
-- an OS crash may lose the last transactions. No fsync on the drain path.
PRAGMA synchronous = OFF;
PRAGMA cache_size = -65536;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
INSERT OR IGNORE INTO meta VALUES ('schema_version', '1'), ('ring_abi_version', '1'), ('staged_slot_bytes', '200');
CREATE TABLE IF NOT EXISTS processes (
  id INTEGER PRIMARY KEY,
  pid INTEGER NOT NULL, ppid INTEGER, uid INTEGER,
  start_ticks INTEGER NOT NULL, start_realtime_ns INTEGER, start_monotonic_ns INTEGER NOT NULL,
  exe TEXT, cmdline TEXT, ring_capacity INTEGER,
  state TEXT NOT NULL DEFAULT 'running', exit_monotonic_ns INTEGER,
  UNIQUE (pid, start_ticks, start_monotonic_ns));
CREATE TABLE IF NOT EXISTS config (
  process_id INTEGER NOT NULL, name TEXT NOT NULL, value TEXT,
  PRIMARY KEY (process_id, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gpus (
  process_id INTEGER NOT NULL, idx INTEGER NOT NULL, pci_bus_id TEXT, numa_node INTEGER, iommu_type TEXT,
  PRIMARY KEY (process_id, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mappings (
  process_id INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, file_offset INTEGER, path TEXT,
  PRIMARY KEY (process_id, start)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
  process_id INTEGER NOT NULL, ring_pos INTEGER NOT NULL,
  api TEXT NOT NULL, flags INTEGER, tid INTEGER, gpu INTEGER,
  start_ns INTEGER, end_ns INTEGER, duration_ns INTEGER,
  address INTEGER, requested INTEGER, mapped INTEGER,
  bytes_1g INTEGER, bytes_2m INTEGER, bytes_thp INTEGER, bytes_base INTEGER, page_class TEXT,
  reserve_ns INTEGER, populate_ns INTEGER, lock_ns INTEGER, register_ns INTEGER,
  numa_asked INTEGER, numa_got INTEGER, result INTEGER, err INTEGER, fallback TEXT,
  cuda_flags INTEGER, translations INTEGER,
  caller INTEGER, caller_module TEXT, caller_offset INTEGER,
  stream INTEGER, correlation INTEGER, copy_kind TEXT, host_memory TEXT,
  PRIMARY KEY (process_id, ring_pos)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS staged_batches (
  id INTEGER PRIMARY KEY, process_id INTEGER NOT NULL, first_pos INTEGER NOT NULL,
  slot_count INTEGER NOT NULL, slots BLOB NOT NULL,
  UNIQUE (process_id, first_pos));
CREATE TABLE IF NOT EXISTS skipped_slots (
  process_id INTEGER NOT NULL, ring_pos INTEGER NOT NULL, reason TEXT NOT NULL,
  PRIMARY KEY (process_id, ring_pos)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters (
  process_id INTEGER NOT NULL, api TEXT NOT NULL,
  events INTEGER, bytes_requested INTEGER, bytes_mapped INTEGER,
  bytes_1g INTEGER, bytes_2m INTEGER, bytes_thp INTEGER, bytes_base INTEGER,
  records_written INTEGER, records_dropped INTEGER, small_calls INTEGER,
  PRIMARY KEY (process_id, api)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fallbacks (
  process_id INTEGER NOT NULL, api TEXT NOT NULL, reason TEXT NOT NULL, count INTEGER,
  PRIMARY KEY (process_id, api, reason)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS histograms (
  process_id INTEGER NOT NULL, phase TEXT NOT NULL, page_class TEXT NOT NULL,
  bucket INTEGER NOT NULL, lower_ns INTEGER, upper_ns INTEGER, count INTEGER,
  PRIMARY KEY (process_id, phase, page_class, bucket)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS histogram_sums (
  process_id INTEGER NOT NULL, phase TEXT NOT NULL, page_class TEXT NOT NULL, count INTEGER, sum_ns INTEGER,
  PRIMARY KEY (process_id, phase, page_class)) WITHOUT ROWID;
)sql";

std::string join_args(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    if (!s.empty()) s += ' ';
    s += a;
  }
  return s;
}

// A drained slot as staged in staged_batches.slots (an array of these).
struct StagedSlot {
  uint64_t position;
  uint32_t kind;  // DrainedSlot::Kind
  uint32_t reserved;
  hugeshim_ring_record record;
};
static_assert(sizeof(StagedSlot) == 200, "meta.staged_slot_bytes");

// Columns added to the events table after its first version, in the order
// kSchema lists them last: a recording created before them (and appended to
// by record or run --append) gets them here, NULL in its old rows, so every
// row of one file has the same columns and the insert below fits both.
constexpr std::pair<const char*, const char*> kLaterEventColumns[] = {
    {"stream", "INTEGER"}, {"correlation", "INTEGER"}, {"copy_kind", "TEXT"}, {"host_memory", "TEXT"}};

void add_missing_event_columns(Database& db) {
  std::set<std::string> present;
  Statement q = db.prepare("SELECT name FROM pragma_table_info('events')");
  while (q.step()) present.insert(q.text(0));
  q.reset();
  for (const auto& [name, type] : kLaterEventColumns)
    if (!present.count(name)) db.exec(std::string("ALTER TABLE events ADD COLUMN ") + name + " " + type);
}

}  // namespace

const char* process_state_name(ProcessState s) {
  switch (s) {
    case ProcessState::running: return "running";
    case ProcessState::exited: return "exited";
    case ProcessState::killed: return "killed";
    case ProcessState::execed: return "execed";
  }
  return "unknown";
}

FileKind inspect_file(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0)
    return errno == ENOENT ? FileKind{FileKind::absent, ""} : FileKind{FileKind::other, strerror(errno)};
  if (!S_ISREG(st.st_mode)) return {FileKind::other, "not a regular file"};
  if (st.st_size == 0) return {FileKind::empty, ""};
  // The 100-byte database header: magic, then application_id (big-endian)
  // at offset 68. A file that is not SQLite is never handed to SQLite.
  std::ifstream file(path, std::ios::binary);
  if (!file) return {FileKind::other, std::string("cannot be read: ") + strerror(errno)};
  unsigned char header[100] = {};
  file.read(reinterpret_cast<char*>(header), sizeof header);
  if (file.gcount() != sizeof header || memcmp(header, "SQLite format 3", 16) != 0)
    return {FileKind::other, "not an SQLite database"};
  const uint32_t id = uint32_t{header[68]} << 24 | uint32_t{header[69]} << 16 | uint32_t{header[70]} << 8 | header[71];
  if (id == static_cast<uint32_t>(kRecordingApplicationId)) return {FileKind::recording, ""};
  // A recording still being written (or whose writer was killed) may have
  // its header only in the WAL file, and older recordings have no
  // application_id: ask SQLite, which reads the WAL too.
  try {
    Database db(path, Database::Mode::read_only);
    Statement app = db.prepare("PRAGMA application_id");
    const int64_t app_id = app.step() ? app.int64(0) : 0;
    if (app_id == kRecordingApplicationId) return {FileKind::recording, ""};
    Statement tables = db.prepare(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('meta', 'processes', 'events')");
    if (app_id == 0 && tables.step() && tables.int64(0) == 3) return {FileKind::recording, ""};
  } catch (const std::runtime_error& e) {
    return {FileKind::other, std::string("an SQLite file that cannot be read: ") + e.what()};
  }
  return {FileKind::other, "an SQLite database of another program"};
}

FileKind::Kind check_output(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const std::string dir = parent.empty() ? "." : parent.string();
  if (access(dir.c_str(), W_OK | X_OK) != 0)
    throw RefusedFile("cannot write " + path + ": " + dir + ": " + strerror(errno));
  const FileKind found = inspect_file(path);
  if (found.kind == FileKind::other)
    throw RefusedFile(path + " is not a hugeshim recording (" + found.what + "); it is left as it is");
  return found.kind;
}

// Checks the path and removes the recording it holds when asked to
// replace it; returns the path.
static const std::string& prepare_output(const std::string& path, bool replace) {
  if (check_output(path) == FileKind::recording && replace)
    for (const char* suffix : {"", "-wal", "-shm"}) unlink((path + suffix).c_str());
  return path;
}

Store::Store(const std::string& path, bool replace) : db_(prepare_output(path, replace), Database::Mode::read_write) {
  db_.exec(kSchema);
  add_missing_event_columns(db_);
  db_.exec("PRAGMA application_id = " + std::to_string(kRecordingApplicationId));
  insert_event_.emplace(db_.prepare(
      "INSERT OR IGNORE INTO events VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,"
      "?18,?19,?20,?21,?22,?23,?24,?25,?26,?27,?28,?29,?30,?31,?32,?33,?34,?35)"));
  insert_skipped_.emplace(db_.prepare("INSERT OR IGNORE INTO skipped_slots VALUES (?1, ?2, ?3)"));
}

int64_t Store::process(const RingIdentity& id) {
  Statement find = db_.prepare(
      "SELECT id FROM processes WHERE pid = ?1 AND start_ticks = ?2 AND start_monotonic_ns = ?3");
  find.bind(1, id.pid).bind(2, id.start_ticks).bind(3, id.start_monotonic_ns);
  if (find.step()) return find.int64(0);
  begin();
  Statement add = db_.prepare(
      "INSERT INTO processes (pid, ppid, uid, start_ticks, start_realtime_ns, start_monotonic_ns, exe, cmdline,"
      " ring_capacity) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)");
  add.bind(1, id.pid).bind(2, id.ppid).bind(3, id.uid).bind(4, id.start_ticks).bind(5, id.start_realtime_ns);
  add.bind(6, id.start_monotonic_ns).bind(7, id.exe).bind(8, join_args(id.argv)).bind(9, id.capacity);
  add.run();
  const int64_t process_id = sqlite3_last_insert_rowid(db_.handle());
  Statement cfg = db_.prepare("INSERT OR REPLACE INTO config VALUES (?1, ?2, ?3)");
  for (const auto& [name, value] : id.config) cfg.bind(1, process_id).bind(2, name).bind(3, value).run();
  commit();
  return process_id;
}

void Store::begin() { db_.exec("BEGIN IMMEDIATE"); }
void Store::commit() { db_.exec("COMMIT"); }

void Store::stage_slots(int64_t process_id, const DrainedSlot* slots, size_t count) {
  if (count == 0) return;
  std::vector<StagedSlot> staged(count);
  for (size_t i = 0; i < count; ++i)
    staged[i] = {slots[i].position, static_cast<uint32_t>(slots[i].kind), 0, slots[i].record};
  Statement q = db_.prepare("INSERT OR REPLACE INTO staged_batches (process_id, first_pos, slot_count, slots) "
                            "VALUES (?1, ?2, ?3, ?4)");
  q.bind(1, process_id).bind(2, slots[0].position).bind(3, static_cast<uint64_t>(count));
  q.bind_blob_static(4, staged.data(), staged.size() * sizeof(StagedSlot));  // lives until run()
  q.run();
}

bool Store::expand_staged_batch() {
  Statement oldest = db_.prepare("SELECT id, process_id, slots FROM staged_batches ORDER BY id LIMIT 1");
  if (!oldest.step()) return false;
  const int64_t id = oldest.int64(0), process_id = oldest.int64(1);
  std::string blob = oldest.blob(2);
  oldest.reset();
  auto cached = maps_cache_.find(process_id);
  if (cached == maps_cache_.end()) {
    std::vector<Mapping> maps;
    Statement q = db_.prepare("SELECT start, end, file_offset, path FROM mappings WHERE process_id = ?1 ORDER BY start");
    q.bind(1, process_id);
    while (q.step())
      maps.push_back({static_cast<uint64_t>(q.int64(0)), static_cast<uint64_t>(q.int64(1)),
                      static_cast<uint64_t>(q.int64(2)), q.text(3)});
    cached = maps_cache_.emplace(process_id, std::move(maps)).first;
  }
  // Decode (a blob of the wrong size is cut to whole slots).
  const size_t count = blob.size() / sizeof(StagedSlot);
  std::vector<DrainedSlot> slots(count);
  for (size_t i = 0; i < count; ++i) {
    StagedSlot s;
    memcpy(&s, blob.data() + i * sizeof s, sizeof s);
    slots[i].position = s.position;
    slots[i].record = s.record;
    slots[i].kind = s.kind == static_cast<uint32_t>(DrainedSlot::Kind::torn) ? DrainedSlot::Kind::torn
                    : s.kind == static_cast<uint32_t>(DrainedSlot::Kind::record) ? DrainedSlot::Kind::record
                                                                                 : DrainedSlot::Kind::invalid;
    if (slots[i].kind == DrainedSlot::Kind::invalid) {
      const char* defect = record_defect(s.record);
      slots[i].why_invalid = defect ? defect : "slot rewritten while being read";
    }
  }
  begin();
  add_slots(process_id, slots.data(), count, cached->second);
  Statement done = db_.prepare("DELETE FROM staged_batches WHERE id = ?1");
  done.bind(1, id).run();
  commit();
  return true;
}

void Store::add_slots(int64_t process_id, const DrainedSlot* slots, size_t count, const std::vector<Mapping>& maps) {
  for (size_t i = 0; i < count; ++i) {
    const DrainedSlot& s = slots[i];
    if (s.kind != DrainedSlot::Kind::record) {
      insert_skipped_->bind(1, process_id).bind(2, s.position)
          .bind(3, s.kind == DrainedSlot::Kind::torn ? "torn: writer died before publishing" : s.why_invalid)
          .run();
      continue;
    }
    const hugeshim_ring_record& r = s.record;
    Statement& q = *insert_event_;
    q.bind(1, process_id).bind(2, s.position).bind_static(3, hugeshim_api_name(r.api)).bind(4, r.flags).bind(5, r.tid);
    q.bind(6, r.gpu).bind(7, r.start_ns).bind(8, r.end_ns);
    q.bind(9, r.end_ns >= r.start_ns ? r.end_ns - r.start_ns : 0);
    q.bind(10, r.address).bind(11, r.requested).bind(12, r.mapped);
    for (int c = 0; c < HUGESHIM_PAGE_COUNT; ++c) q.bind(13 + c, r.page_bytes[c]);
    q.bind_static(17, hugeshim_page_class_name(hugeshim_dominant_page_class(r.page_bytes)));
    for (int p = 0; p < HUGESHIM_PHASE_COUNT; ++p) q.bind(18 + p, r.phase_ns[p]);
    q.bind(22, r.numa_asked).bind(23, r.numa_got).bind(24, r.result).bind(25, r.err);
    q.bind_static(26, hugeshim_fallback_name(r.fallback)).bind(27, r.cuda_flags).bind(28, r.translations);
    q.bind(29, r.caller);
    // maps outlives this statement step: its path strings need no copy.
    const Mapping* m = find_mapping(maps, r.caller);
    if (m) q.bind_static(30, m->path).bind(31, r.caller - m->start + m->file_offset);
    else q.bind_null(30).bind(31, r.caller);
    // Copy fields only for copy events (NULL, not "unknown", for the rest).
    if (r.api == HUGESHIM_API_CUDA_MEMCPY)
      q.bind(32, r.stream).bind(33, r.correlation).bind_static(34, hugeshim_copy_direction_name(r.copy_kind))
          .bind_static(35, hugeshim_copy_memory_name(r.host_memory));
    else q.bind_null(32).bind_null(33).bind_null(34).bind_null(35);
    q.run();
  }
}

void Store::set_totals(int64_t process_id, const RingTotals& t) {
  Statement counters = db_.prepare("INSERT OR REPLACE INTO counters VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)");
  Statement fallbacks = db_.prepare("INSERT OR REPLACE INTO fallbacks VALUES (?1, ?2, ?3, ?4)");
  for (uint32_t api = 0; api < HUGESHIM_API_COUNT; ++api) {
    const hugeshim_ring_api_counters& c = t.counters[api];
    if (!c.events && !t.small_calls[api]) continue;
    counters.bind(1, process_id).bind(2, hugeshim_api_name(api)).bind(3, c.events).bind(4, c.bytes_requested);
    counters.bind(5, c.bytes_mapped);
    for (int p = 0; p < HUGESHIM_PAGE_COUNT; ++p) counters.bind(6 + p, c.page_bytes[p]);
    counters.bind(10, c.records_written).bind(11, c.records_dropped).bind(12, t.small_calls[api]);
    counters.run();
    for (uint32_t f = 0; f < HUGESHIM_FALLBACK_COUNT; ++f)
      if (c.fallbacks[f])
        fallbacks.bind(1, process_id).bind(2, hugeshim_api_name(api)).bind(3, hugeshim_fallback_name(f))
            .bind(4, c.fallbacks[f]).run();
  }
  Statement buckets = db_.prepare("INSERT OR REPLACE INTO histograms VALUES (?1,?2,?3,?4,?5,?6,?7)");
  Statement sums = db_.prepare("INSERT OR REPLACE INTO histogram_sums VALUES (?1,?2,?3,?4,?5)");
  for (uint32_t phase = 0; phase < HUGESHIM_PHASE_COUNT; ++phase)
    for (uint32_t page = 0; page < HUGESHIM_PAGE_COUNT; ++page) {
      const hugeshim_ring_histogram& h = t.histograms[phase][page];
      uint64_t count = 0;
      for (uint32_t b = 0; b < HUGESHIM_RING_HIST_BUCKETS; ++b) {
        if (!h.buckets[b]) continue;
        count += h.buckets[b];
        buckets.bind(1, process_id).bind(2, hugeshim_phase_name(phase)).bind(3, hugeshim_page_class_name(page));
        buckets.bind(4, b).bind(5, b < 63 ? (uint64_t{1} << b) : 0).bind(6, b < 63 ? (uint64_t{1} << (b + 1)) : 0);
        buckets.bind(7, h.buckets[b]).run();
      }
      if (count)
        sums.bind(1, process_id).bind(2, hugeshim_phase_name(phase)).bind(3, hugeshim_page_class_name(page))
            .bind(4, count).bind(5, h.sum_ns).run();
    }
  Statement gpus = db_.prepare("INSERT OR REPLACE INTO gpus VALUES (?1, ?2, ?3, ?4, ?5)");
  for (const RingGpu& g : t.gpus)
    gpus.bind(1, process_id).bind(2, g.index).bind(3, g.pci_bus_id).bind(4, g.numa_node)
        .bind(5, hugeshim_iommu_type_name(g.iommu_type)).run();
}

void Store::set_mappings(int64_t process_id, const std::vector<Mapping>& maps) {
  maps_cache_.erase(process_id);
  Statement q = db_.prepare("INSERT OR REPLACE INTO mappings VALUES (?1, ?2, ?3, ?4, ?5)");
  for (const Mapping& m : maps) q.bind(1, process_id).bind(2, m.start).bind(3, m.end).bind(4, m.file_offset).bind(5, m.path).run();
}

int64_t Store::last_process_id() {
  Statement q = db_.prepare("SELECT coalesce(max(id), 0) FROM processes");
  return q.step() ? q.int64(0) : 0;
}

void Store::set_state(int64_t process_id, ProcessState state, uint64_t exit_monotonic_ns) {
  Statement q = db_.prepare("UPDATE processes SET state = ?2, exit_monotonic_ns = ?3 WHERE id = ?1");
  q.bind(1, process_id).bind(2, process_state_name(state));
  if (exit_monotonic_ns) q.bind(3, exit_monotonic_ns);
  else q.bind_null(3);
  q.run();
}

}  // namespace hugeshim::collector
