// Segment lifecycle: SIGKILL mid-stream, fork, HUGESHIM_RING=off, and a
// collector that dies and restarts.
#define BOOST_TEST_MODULE ring_lifecycle
#include <boost/test/unit_test.hpp>
#include <atomic>
#include <dirent.h>
#include <fcntl.h>
#include <iostream>
#include <optional>
#include <sstream>
#include <vector>

#include "producer_child.h"
#include "ring_reader.h"

using namespace hugeshim;
using namespace hugeshim::test;

namespace {

size_t segment_files(const std::string& dir) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == HUGESHIM_RING_FILE_SUFFIX) ++n;
  return n;
}

// A producer that emits until killed, from two threads.
void emit_forever() {
  std::atomic<uint64_t> serial{0};
  auto loop = [&] {
    for (;;) telemetry_emit(large_event(HUGESHIM_API_MALLOC, 2u << 20, serial++));
  };
  std::thread other(loop);
  loop();
}

}  // namespace

BOOST_AUTO_TEST_CASE(sigkilled_producer_loses_no_committed_record) {
  TempDir dir;
  collector::Store store(dir.file("rec.db"), true);
  collector::Recorder recorder(store, dir.path(), std::cerr);
  pid_t child = spawn_producer(dir.path(), 4096, emit_forever);
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(400);
  collector::drain_while(recorder, [&] { return std::chrono::steady_clock::now() < until; });
  kill(child, SIGKILL);
  int status = wait_status(child);
  BOOST_REQUIRE(WIFSIGNALED(status));
  const auto t0 = std::chrono::steady_clock::now();
  BOOST_REQUIRE_MESSAGE(drain_until_finished(recorder, std::chrono::seconds(10)), "collector hung on a dead producer");
  BOOST_CHECK_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  collector::Database& db = store.db();
  const int64_t stored = query_int(db, "SELECT count(*) FROM events");
  const int64_t skipped = query_int(db, "SELECT count(*) FROM skipped_slots");
  const int64_t positions = query_int(db, "SELECT max(p) + 1 FROM (SELECT max(ring_pos) AS p FROM events "
                                          "UNION ALL SELECT max(ring_pos) FROM skipped_slots)");
  BOOST_TEST_MESSAGE("stored " << stored << ", torn " << skipped << ", positions " << positions);
  BOOST_CHECK_GT(stored, 1000);
  // Every claimed position is either a stored record or a torn slot: no
  // published record was lost, and at most one slot per thread was torn.
  BOOST_CHECK_EQUAL(stored + skipped, positions);
  BOOST_CHECK_LE(skipped, 2);
  const int64_t events = query_int(db, "SELECT events FROM counters WHERE api = 'malloc'");
  const int64_t dropped = query_int(db, "SELECT records_dropped FROM counters WHERE api = 'malloc'");
  // An event counted just before the kill may not have reached its slot.
  BOOST_CHECK_GE(events - dropped, stored);
  BOOST_CHECK_LE(events - dropped - stored, 2 + skipped);
  collector::Statement q = db.prepare("SELECT state FROM processes");
  BOOST_REQUIRE(q.step());
  BOOST_CHECK_EQUAL(q.text(0), "killed");
  BOOST_CHECK_EQUAL(segment_files(dir.path()), 0u);
}

BOOST_AUTO_TEST_CASE(fork_gives_the_child_its_own_segment) {
  TempDir dir;
  pid_t parent = spawn_producer(dir.path(), 1024, [&] {
    for (int i = 0; i < 5; ++i) telemetry_emit(large_event(HUGESHIM_API_MALLOC, 4u << 20, i));
    pid_t grandchild = fork();
    if (grandchild == 0) {
      telemetry_after_fork_child();
      for (int i = 0; i < 7; ++i) telemetry_emit(large_event(HUGESHIM_API_FREE, 4u << 20, i));
      exit(0);
    }
    waitpid(grandchild, nullptr, 0);
    telemetry_emit(large_event(HUGESHIM_API_MALLOC, 4u << 20, 99));
  });
  BOOST_REQUIRE(WIFEXITED(wait_status(parent)));
  BOOST_CHECK_EQUAL(segment_files(dir.path()), 2u);
  collector::Store store(dir.file("rec.db"), true);
  collector::Recorder recorder(store, dir.path(), std::cerr);
  BOOST_REQUIRE(drain_until_finished(recorder, std::chrono::seconds(10)));
  collector::Database& db = store.db();
  BOOST_CHECK_EQUAL(query_int(db, "SELECT count(*) FROM processes"), 2);
  BOOST_CHECK_EQUAL(query_int(db, "SELECT count(*) FROM processes c JOIN processes p ON c.ppid = p.pid"), 1);
  // The parent's events stay in the parent's ring, the child's in its own.
  BOOST_CHECK_EQUAL(query_int(db, "SELECT count(*) FROM events e JOIN processes p ON e.process_id = p.id "
                                  "WHERE p.pid = " + std::to_string(parent) + " AND e.api = 'malloc'"), 6);
  BOOST_CHECK_EQUAL(query_int(db, "SELECT count(*) FROM events e JOIN processes p ON e.process_id = p.id "
                                  "WHERE p.pid = " + std::to_string(parent) + " AND e.api = 'free'"), 0);
  BOOST_CHECK_EQUAL(query_int(db, "SELECT count(*) FROM events e JOIN processes p ON e.process_id = p.id "
                                  "WHERE p.pid != " + std::to_string(parent) + " AND e.api = 'free'"), 7);
}

BOOST_AUTO_TEST_CASE(ring_off_records_nothing) {
  TempDir dir;
  pid_t child = spawn_producer(dir.path(), 1024, [] {
    telemetry_emit(large_event(HUGESHIM_API_MALLOC, 4u << 20, 1));
    telemetry_count_small(HUGESHIM_API_MALLOC);
  }, "off");
  BOOST_REQUIRE(WIFEXITED(wait_status(child)));
  BOOST_CHECK_EQUAL(segment_files(dir.path()), 0u);
}

BOOST_AUTO_TEST_CASE(restart_after_commit_before_release_loses_nothing) {
  TempDir dir;
  int go[2];
  BOOST_REQUIRE(pipe(go) == 0);
  // Emits 3000, waits for a byte, emits 2000 more, exits.
  pid_t child = spawn_producer(dir.path(), 8192, [&] {
    for (int i = 0; i < 3000; ++i) telemetry_emit(large_event(HUGESHIM_API_MALLOC, 4u << 20, i));
    char c;
    if (read(go[0], &c, 1) != 1) exit(1);
    for (int i = 0; i < 2000; ++i) telemetry_emit(large_event(HUGESHIM_API_MALLOC, 4u << 20, 3000 + i));
  });
  const std::string db_path = dir.file("rec.db");
  {
    // First collector: stores a batch and dies before releasing it (the
    // worst moment), simulated by committing and never calling release().
    collector::Store store(db_path, true);
    std::vector<std::string> names;
    for (int tries = 0; names.empty() && tries < 500; ++tries) {
      for (const auto& e : std::filesystem::directory_iterator(dir.path()))
        if (e.path().extension() == HUGESHIM_RING_FILE_SUFFIX) names.push_back(e.path().filename());
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    BOOST_REQUIRE_EQUAL(names.size(), 1u);
    int dir_fd = open(dir.path().c_str(), O_RDONLY | O_DIRECTORY);
    std::optional<collector::Segment> segment;
    std::string why;
    // Wait until all 3000 are published.
    uint64_t backlog = 0;
    for (int tries = 0; tries < 500; ++tries) {
      segment.reset();
      BOOST_REQUIRE(collector::Segment::open(dir_fd, names[0], &segment, &why) == collector::Segment::OpenResult::ok);
      BOOST_REQUIRE(segment->backlog(&backlog));
      if (backlog == 3000) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    BOOST_REQUIRE_EQUAL(backlog, 3000u);
    std::vector<collector::DrainedSlot> slots(8192);
    size_t got = 0;
    BOOST_REQUIRE(segment->peek(slots.data(), 1000, false, &got));
    BOOST_REQUIRE_EQUAL(got, 1000u);
    int64_t id = store.process(segment->identity());
    store.begin();
    store.add_slots(id, slots.data(), got, {});
    store.commit();
    close(dir_fd);
  }  // "crash": the segment's lock goes with the dead collector; nothing released
  BOOST_REQUIRE(write(go[1], "x", 1) == 1);
  collector::Store store(db_path, false);
  collector::Recorder recorder(store, dir.path(), std::cerr);
  BOOST_REQUIRE(drain_until_finished(recorder, std::chrono::seconds(20)));
  BOOST_REQUIRE(WIFEXITED(wait_status(child)));
  collector::Database& db = store.db();
  BOOST_CHECK_EQUAL(query_int(db, "SELECT count(*) FROM events"), 5000);
  BOOST_CHECK_EQUAL(query_int(db, "SELECT count(DISTINCT ring_pos) FROM events"), 5000);
  BOOST_CHECK_EQUAL(query_int(db, "SELECT max(ring_pos) FROM events"), 4999);
  BOOST_CHECK_EQUAL(query_int(db, "SELECT count(*) FROM processes"), 1);
  BOOST_CHECK_EQUAL(query_int(db, "SELECT events - records_dropped FROM counters"), 5000);
  close(go[0]);
  close(go[1]);
}

BOOST_AUTO_TEST_CASE(killed_record_command_restarts_without_loss) {
  TempDir dir;
  const std::string db_path = dir.file("rec.db");
  const std::string hugeshim = std::string(HUGESHIM_BIN_DIR) + "/hugeshim";
  auto start_recorder = [&] {
    fflush(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
      execl(hugeshim.c_str(), "hugeshim", "record", "--dir", dir.path().c_str(), "-o", db_path.c_str(), nullptr);
      _exit(127);
    }
    return pid;
  };
  // 40000 events in bursts of 500 every 5 ms: about 0.4 s of load.
  pid_t child = spawn_producer(dir.path(), 16384, [] {
    for (int i = 0; i < 40000; ++i) {
      telemetry_emit(large_event(HUGESHIM_API_MALLOC, 4u << 20, i));
      if (i % 500 == 499) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  pid_t rec = start_recorder();
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  kill(rec, SIGKILL);
  wait_status(rec);
  rec = start_recorder();
  BOOST_REQUIRE(WIFEXITED(wait_status(child)));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(rec, SIGINT);
  int status = wait_status(rec);
  BOOST_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  collector::Database db(db_path, collector::Database::Mode::read_only);
  const int64_t stored = query_int(db, "SELECT count(*) FROM events");
  const int64_t written = query_int(db, "SELECT records_written FROM counters");
  BOOST_CHECK_EQUAL(query_int(db, "SELECT events FROM counters"), 40000);
  BOOST_CHECK_EQUAL(stored, written);
  BOOST_CHECK_EQUAL(stored + query_int(db, "SELECT records_dropped FROM counters"), 40000);
  BOOST_CHECK_EQUAL(segment_files(dir.path()), 0u);
}
