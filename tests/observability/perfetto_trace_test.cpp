// write_perfetto_trace() on recordings written through the collector's own
// store, with the events a real workload cannot produce on a machine
// without a GPU or on demand: a program's registration (prepare and
// register halves), phases longer than their event (clipped), and two
// events overlapping on one thread (a second lane, so slices still nest).
#define BOOST_TEST_MODULE perfetto_trace
#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "perfetto_trace.h"
#include "store.h"
#include "timeline_workload.h"

using namespace hugeshim::collector;
using hugeshim_timeline_test::TempDir;
using nlohmann::json;

namespace {

constexpr int64_t kStart = 5'000'000'000;  // the process's start, CLOCK_MONOTONIC ns

DrainedSlot event(uint64_t pos, uint32_t api, int32_t tid, uint64_t start, uint64_t end,
                  std::array<uint64_t, 4> phases) {
  DrainedSlot s;
  s.position = pos;
  s.record.api = api;
  s.record.tid = tid;
  s.record.gpu = -1;
  s.record.start_ns = start;
  s.record.end_ns = end;
  for (int p = 0; p < 4; ++p) s.record.phase_ns[p] = phases[p];
  s.record.page_bytes[HUGESHIM_PAGE_2M] = 64 << 20;
  s.record.requested = s.record.mapped = 64 << 20;
  return s;
}

json trace_of(const std::vector<DrainedSlot>& slots) {
  TempDir dir;
  const std::string path = dir.file("r.db");
  {
    Store store(path, false);
    RingIdentity id;
    id.pid = 4242;
    id.start_ticks = 1;
    id.start_monotonic_ns = kStart;
    id.exe = "/opt/app/server";
    id.argv = {"server", "--port", "1"};
    const int64_t process = store.process(id);
    store.begin();
    store.add_slots(process, slots.data(), slots.size(), {});
    store.commit();
  }
  Database db(path, Database::Mode::read_only);
  std::ostringstream out;
  write_perfetto_trace(db, out);
  return json::parse(out.str());
}

std::vector<json> find(const json& trace, const std::string& ph, const std::string& name) {
  std::vector<json> found;
  for (const json& e : trace["traceEvents"])
    if (e["ph"] == ph && e["name"] == name) found.push_back(e);
  return found;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_registration_has_prepare_and_register_halves) {
  const json trace = trace_of({event(0, HUGESHIM_API_CUDA_HOST_REGISTER, 4242, kStart + 1000, kStart + 2000,
                                     {0, 300, 0, 650})});
  const auto parent = find(trace, "X", "cudaHostRegister");
  BOOST_REQUIRE_EQUAL(parent.size(), 1u);
  BOOST_CHECK_EQUAL(parent[0]["cat"], "registration");
  BOOST_CHECK_EQUAL(parent[0]["ts"].get<double>(), 1.0);  // microseconds after the process start
  BOOST_CHECK_EQUAL(parent[0]["dur"].get<double>(), 1.0);
  const auto prepare = find(trace, "X", "prepare"), reg = find(trace, "X", "register");
  BOOST_REQUIRE_EQUAL(prepare.size(), 1u);
  BOOST_REQUIRE_EQUAL(reg.size(), 1u);
  BOOST_CHECK_EQUAL(prepare[0]["ts"].get<double>(), 1.0);
  BOOST_CHECK_CLOSE(prepare[0]["dur"].get<double>(), 0.3, 1e-9);
  BOOST_CHECK_CLOSE(reg[0]["ts"].get<double>(), 1.3, 1e-9);
  BOOST_CHECK_CLOSE(reg[0]["dur"].get<double>(), 0.65, 1e-9);
  BOOST_CHECK(find(trace, "X", "populate").empty());
  const auto names = find(trace, "M", "process_name");
  BOOST_REQUIRE_EQUAL(names.size(), 1u);
  BOOST_CHECK_EQUAL(names[0]["pid"], 4242);
  BOOST_CHECK_EQUAL(names[0]["args"]["name"], "/opt/app/server");
  const auto threads = find(trace, "M", "thread_name");
  BOOST_REQUIRE_EQUAL(threads.size(), 1u);
  BOOST_CHECK_EQUAL(threads[0]["args"]["name"], "main thread 4242");
}

BOOST_AUTO_TEST_CASE(phases_are_clipped_to_their_event) {
  // 400 + 900 ns of phases recorded for a 1000 ns call.
  const json trace = trace_of({event(0, HUGESHIM_API_MALLOC, 7, kStart, kStart + 1000, {400, 900, 0, 0})});
  const auto reserve = find(trace, "X", "reserve"), populate = find(trace, "X", "populate");
  BOOST_REQUIRE_EQUAL(reserve.size(), 1u);
  BOOST_REQUIRE_EQUAL(populate.size(), 1u);
  BOOST_CHECK_CLOSE(populate[0]["ts"].get<double>(), 0.4, 1e-9);
  BOOST_CHECK_CLOSE(populate[0]["dur"].get<double>(), 0.6, 1e-9);
  BOOST_CHECK_EQUAL(populate[0]["args"]["recorded_ns"], 900);
}

BOOST_AUTO_TEST_CASE(overlapping_events_on_one_thread_get_a_second_lane) {
  const json trace = trace_of({event(0, HUGESHIM_API_MALLOC, 7, kStart, kStart + 1000, {}),
                               event(1, HUGESHIM_API_MMAP, 7, kStart + 500, kStart + 1500, {}),
                               event(2, HUGESHIM_API_FREE, 7, kStart + 2000, kStart + 2100, {})});
  const auto malloc_slice = find(trace, "X", "malloc"), mmap_slice = find(trace, "X", "mmap"),
             free_slice = find(trace, "X", "free");
  BOOST_REQUIRE_EQUAL(mmap_slice.size(), 1u);
  BOOST_CHECK_EQUAL(malloc_slice[0]["tid"], 7);
  BOOST_CHECK_EQUAL(free_slice[0]["tid"], 7);  // after both: back on the first lane
  BOOST_CHECK_EQUAL(free_slice[0]["cat"], "release");
  BOOST_CHECK_NE(mmap_slice[0]["tid"], 7);
  bool lane_named = false;
  for (const json& t : find(trace, "M", "thread_name"))
    if (t["tid"] == mmap_slice[0]["tid"]) lane_named = t["args"]["name"] == "thread 7 (overlap 1)";
  BOOST_CHECK(lane_named);
  // Bytes mapped so far: 64 MiB after the malloc, 128 MiB after the mmap;
  // the free adds nothing.
  const auto mapped = find(trace, "C", "bytes mapped by large events");
  BOOST_REQUIRE_EQUAL(mapped.size(), 2u);
  BOOST_CHECK_EQUAL(mapped[1]["args"]["2M"], int64_t{128} << 20);
}
