// Records and counters reconcile exactly: for a multi-threaded producer,
// records stored + records dropped == events counted, per API, whether the
// ring overflows or not.
#define BOOST_TEST_MODULE ring_reconcile
#include <boost/test/unit_test.hpp>
#include <iostream>
#include <vector>

#include "producer_child.h"

using namespace hugeshim;
using namespace hugeshim::test;

namespace {

constexpr int kThreads = 4;

void emit_from_threads(int per_thread) {
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([t, per_thread] {
      for (int i = 0; i < per_thread; ++i) {
        const uint32_t api = (i % 3 == 0) ? HUGESHIM_API_FREE : HUGESHIM_API_MALLOC;
        telemetry_emit(large_event(api, 4u << 20, static_cast<uint64_t>(t) * per_thread + i));
        telemetry_count_small(HUGESHIM_API_MALLOC);
      }
    });
  for (auto& th : threads) th.join();
}

struct Reconciled {
  int64_t stored, dropped, events, written, skipped;
};

Reconciled record_producer(unsigned slots, int per_thread) {
  TempDir dir;
  collector::Store store(dir.file("rec.db"), true);
  collector::Recorder recorder(store, dir.path(), std::cerr);
  pid_t child = spawn_producer(dir.path(), slots, [&] { emit_from_threads(per_thread); });
  BOOST_REQUIRE(drain_until_finished(recorder, std::chrono::seconds(60)));
  int status = wait_status(child);
  BOOST_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  collector::Database& db = store.db();
  // Per API: events == stored + dropped.
  collector::Statement q = db.prepare(
      "SELECT c.api, c.events, c.records_dropped, c.records_written, "
      "(SELECT count(*) FROM events e WHERE e.process_id = c.process_id AND e.api = c.api) "
      "FROM counters c WHERE c.events > 0");
  int apis = 0;
  while (q.step()) {
    ++apis;
    BOOST_TEST_INFO("api " << q.text(0));
    BOOST_CHECK_EQUAL(q.int64(4) + q.int64(2), q.int64(1));
    BOOST_CHECK_EQUAL(q.int64(3), q.int64(4));
  }
  BOOST_CHECK_EQUAL(apis, 2);
  return {query_int(db, "SELECT count(*) FROM events"), query_int(db, "SELECT sum(records_dropped) FROM counters"),
          query_int(db, "SELECT sum(events) FROM counters"), query_int(db, "SELECT sum(records_written) FROM counters"),
          query_int(db, "SELECT count(*) FROM skipped_slots")};
}

}  // namespace

BOOST_AUTO_TEST_CASE(overflowing_ring_reconciles_exactly) {
  // 64 slots against 4 threads x 20000 events: the ring overflows.
  Reconciled r = record_producer(64, 20000);
  BOOST_CHECK_EQUAL(r.events, kThreads * 20000);
  BOOST_CHECK_GT(r.dropped, 0);
  BOOST_CHECK_EQUAL(r.stored + r.dropped, r.events);
  BOOST_CHECK_EQUAL(r.skipped, 0);
}

BOOST_AUTO_TEST_CASE(large_ring_stores_every_event) {
  Reconciled r = record_producer(16384, 2000);
  BOOST_CHECK_EQUAL(r.events, kThreads * 2000);
  BOOST_CHECK_EQUAL(r.dropped, 0);
  BOOST_CHECK_EQUAL(r.stored, r.events);
}

BOOST_AUTO_TEST_CASE(process_state_and_small_calls_recorded) {
  TempDir dir;
  collector::Store store(dir.file("rec.db"), true);
  collector::Recorder recorder(store, dir.path(), std::cerr);
  pid_t child = spawn_producer(dir.path(), 1024, [] {
    for (int i = 0; i < 1000; ++i) telemetry_count_small(HUGESHIM_API_CALLOC);
    telemetry_emit(large_event(HUGESHIM_API_CALLOC, 8u << 20, 1));
  });
  BOOST_REQUIRE(drain_until_finished(recorder, std::chrono::seconds(20)));
  wait_status(child);
  collector::Statement q = store.db().prepare("SELECT state FROM processes");
  BOOST_REQUIRE(q.step());
  BOOST_CHECK_EQUAL(q.text(0), "exited");
  // One thread: the approximate counter is exact.
  BOOST_CHECK_EQUAL(query_int(store.db(), "SELECT small_calls FROM counters WHERE api = 'calloc'"), 1000);
  BOOST_CHECK_EQUAL(query_int(store.db(), "SELECT count(*) FROM events WHERE page_class = '2M'"), 1);
}
