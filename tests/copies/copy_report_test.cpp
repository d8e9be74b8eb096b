// The copies section of `hugeshim report` and the copy tracks of the
// Perfetto export, on recordings written through the collector's own store
// from ring records as the shim writes them: copies of known bytes and
// durations, the pinning calls around them, a buffer freed before a copy,
// another process's buffer at a copy's address. Also the events table's copy
// columns added to a recording of the schema before them.
#define BOOST_TEST_MODULE copy_report
#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "copy_records.h"
#include "perfetto_copies.h"
#include "perfetto_trace.h"
#include "report.h"
#include "store.h"
#include "temp_dir.h"

using namespace hugeshim::collector;
using namespace hugeshim_copy_test;
using nlohmann::json;

namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30, kMiB = uint64_t{1} << 20;
constexpr uint64_t kB1 = 0x1000000000, kB2 = 0x2000000000, kB3 = 0x3000000000, kOther = 0x5000000000;
constexpr uint64_t kMs = 1000000;

struct Recorded {
  int32_t pid;
  std::vector<hugeshim_ring_record> records;
  uint64_t first_position = 0;  // ring position of the first record
};

void write_recording(const std::string& path, const std::vector<Recorded>& processes) {
  Store store(path, false);
  for (const Recorded& p : processes) {
    RingIdentity id;
    id.pid = p.pid;
    id.start_ticks = 1;
    id.start_monotonic_ns = 1'000'000'000;
    id.exe = "/opt/app/server";
    id.argv = {"server"};
    const int64_t process = store.process(id);
    std::vector<DrainedSlot> slots(p.records.size());
    RingTotals totals;
    for (size_t i = 0; i < slots.size(); ++i) {
      slots[i].position = p.first_position + i;
      slots[i].record = p.records[i];
      hugeshim_ring_api_counters& c = totals.counters[p.records[i].api];
      ++c.events;
      ++c.records_written;
      c.bytes_requested += p.records[i].requested;
      for (int k = 0; k < HUGESHIM_PAGE_COUNT; ++k) c.page_bytes[k] += p.records[i].page_bytes[k];
    }
    store.begin();
    store.add_slots(process, slots.data(), slots.size(), {});
    store.set_totals(process, totals);
    store.commit();
  }
}

// Process 4242: three pinned buffers (one freed), 207 copies; process 4343:
// a registration at the address of one of 4242's copies, and no copies.
std::vector<Recorded> workload() {
  Recorded a{4242, {}}, b{4343, {}};
  a.records.push_back(pin_record(HUGESHIM_API_CUDA_HOST_ALLOC, kB1, kGiB, 2'000'000'000, 250 * kMs, 200 * kMs));
  a.records.push_back(pin_record(HUGESHIM_API_CUDA_HOST_ALLOC, kB2, 256 * kMiB, 2'500'000'000, 64 * kMs, 0, false));
  a.records.push_back(pin_record(HUGESHIM_API_CUDA_HOST_ALLOC, kB3, 64 * kMiB, 2'600'000'000, 10 * kMs, 8 * kMs));
  a.records.push_back(release_record(HUGESHIM_API_CUDA_FREE_HOST, kB3, 64 * kMiB, 2'700'000'000));
  // 200 copies of 4 MB from B1 (2 MiB pages): copy i takes i * 10 us, 400/i GB/s.
  for (uint64_t i = 1; i <= 200; ++i)
    a.records.push_back(copy_record(HUGESHIM_COPY_HTOD, HUGESHIM_COPY_MEMORY_PINNED, kB1 + i * 4 * kMiB, 4'000'000,
                                    3'000'000'000 + i * 3 * kMs, i * 10'000, HUGESHIM_PAGE_2M));
  // Untimed (end == start): counted, not in the distribution.
  a.records.push_back(copy_record(HUGESHIM_COPY_HTOD, HUGESHIM_COPY_MEMORY_PINNED, kB1, 512 * 1024, 4'000'000'000, 0,
                                  HUGESHIM_PAGE_2M));
  // Pageable: 2 x 100 MB at 5 GB/s.
  for (uint64_t i = 0; i < 2; ++i)
    a.records.push_back(copy_record(HUGESHIM_COPY_HTOD, HUGESHIM_COPY_MEMORY_PAGEABLE, 0x70000000, 100'000'000,
                                    4'100'000'000 + i * 100 * kMs, 20 * kMs));
  // Native pinned B2: 64 MB at 25.6 GB/s.
  a.records.push_back(copy_record(HUGESHIM_COPY_HTOD, HUGESHIM_COPY_MEMORY_PINNED, kB2 + kMiB, 64'000'000,
                                  4'500'000'000, 2'500'000));
  // At B1's address before B1 was pinned: not B1's.
  a.records.push_back(copy_record(HUGESHIM_COPY_HTOD, HUGESHIM_COPY_MEMORY_PINNED, kB1, 4'000'000, 1'500'000'000,
                                  200'000));
  // Inside B3 after its cudaFreeHost: not B3's.
  a.records.push_back(copy_record(HUGESHIM_COPY_DTOH, HUGESHIM_COPY_MEMORY_PINNED, kB3 + kMiB, 2'000'000,
                                  4'600'000'000, 100'000));
  // At the address of 4343's registration: not 4343's.
  a.records.push_back(copy_record(HUGESHIM_COPY_DTOH, HUGESHIM_COPY_MEMORY_PINNED, kOther, 8'000'000, 4'700'000'000,
                                  400'000, HUGESHIM_PAGE_1G));
  b.records.push_back(pin_record(HUGESHIM_API_CUDA_HOST_REGISTER, kOther, kGiB, 2'000'000'000, 600 * kMs, 500 * kMs));
  return {a, b};
}

struct Fixture {
  hugeshim_test::TempDir dir;
  std::string path = dir.file("copies.db");
  Fixture() { write_recording(path, workload()); }
  json report() {
    Database db(path, Database::Mode::read_only);
    return build_report(db, 5);
  }
};

const json& process(const json& report, int64_t pid) {
  for (const json& p : report["processes"])
    if (p["pid"] == pid) return p;
  throw std::runtime_error("no process " + std::to_string(pid));
}

const json& copy_class(const json& copies, const std::string& direction, const std::string& size,
                       const std::string& backing) {
  for (const json& c : copies["classes"])
    if (c["direction"] == direction && c["size_class"] == size && c["backing"] == backing) return c;
  throw std::runtime_error("no class " + direction + " " + size + " " + backing);
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

BOOST_FIXTURE_TEST_CASE(bandwidth_percentiles_per_class, Fixture) {
  const json copies = process(report(), 4242)["copies"];
  BOOST_CHECK_EQUAL(copies["count"], 207);
  const json& c = copy_class(copies, "HtoD", "1-16 MiB", "pinned/2M");
  BOOST_CHECK_EQUAL(c["count"], 200);
  BOOST_CHECK_EQUAL(c["bytes"], 800'000'000);
  BOOST_CHECK_EQUAL(c["untimed"], 0);
  // Ascending: 400/200 ... 400/1. p50: rank 100 = 400/101. p99: 99% at
  // least this fast, rank 198 of the fastest-first order = 400/198.
  BOOST_CHECK_CLOSE(c["p50_gbps"].get<double>(), 400.0 / 101, 1e-9);
  BOOST_CHECK_CLOSE(c["p99_gbps"].get<double>(), 400.0 / 198, 1e-9);
  BOOST_CHECK_CLOSE(c["min_gbps"].get<double>(), 2.0, 1e-9);
  BOOST_CHECK_CLOSE(c["max_gbps"].get<double>(), 400.0, 1e-9);
  BOOST_CHECK_EQUAL(c["min_bytes"], 1 << 20);
  BOOST_CHECK_EQUAL(c["max_bytes"], 16 << 20);

  const json& untimed = copy_class(copies, "HtoD", "<1 MiB", "pinned/2M");
  BOOST_CHECK_EQUAL(untimed["count"], 1);
  BOOST_CHECK_EQUAL(untimed["untimed"], 1);
  BOOST_CHECK(untimed["p50_gbps"].is_null());

  const json& pageable = copy_class(copies, "HtoD", "16-256 MiB", "pageable");
  BOOST_CHECK_EQUAL(pageable["count"], 2);
  BOOST_CHECK_CLOSE(pageable["p50_gbps"].get<double>(), 5.0, 1e-9);
  BOOST_CHECK_CLOSE(copy_class(copies, "HtoD", "16-256 MiB", "pinned/native")["p50_gbps"].get<double>(), 25.6, 1e-9);
  const json& big_page = copy_class(copies, "DtoH", "1-16 MiB", "pinned/1G");
  BOOST_CHECK_CLOSE(big_page["min_gbps"].get<double>(), 20.0, 1e-9);
  BOOST_CHECK(copy_class(copies, "DtoH", "1-16 MiB", "pinned/1G")["max_bytes"] == 16 << 20);
}

BOOST_FIXTURE_TEST_CASE(share_of_bytes_from_pageable_memory, Fixture) {
  const json copies = process(report(), 4242)["copies"];
  BOOST_REQUIRE_EQUAL(copies["pageable"].size(), 2u);
  for (const json& d : copies["pageable"]) {
    if (d["direction"] == "HtoD") {
      const int64_t all = 800'000'000 + 512 * 1024 + 200'000'000 + 64'000'000 + 4'000'000;
      BOOST_CHECK_EQUAL(d["bytes"], all);
      BOOST_CHECK_EQUAL(d["pageable_bytes"], 200'000'000);
      BOOST_CHECK_CLOSE(d["share"].get<double>(), 200e6 / static_cast<double>(all), 1e-9);
    } else {
      BOOST_CHECK_EQUAL(d["direction"], "DtoH");
      BOOST_CHECK_EQUAL(d["pageable_bytes"], 0);
    }
  }
}

BOOST_FIXTURE_TEST_CASE(each_copy_joins_the_live_buffer_of_its_own_process, Fixture) {
  const json r = report();
  const json copies = process(r, 4242)["copies"];
  const json& b1 = copy_class(copies, "HtoD", "1-16 MiB", "pinned/2M")["pin"];
  BOOST_CHECK_EQUAL(b1["copies_joined"], 200);
  BOOST_CHECK_EQUAL(b1["buffers"], 1);
  BOOST_CHECK_EQUAL(b1["buffer_bytes"], int64_t{1} << 30);
  BOOST_CHECK_EQUAL(b1["register_ns_per_gib"], 200 * kMs);
  BOOST_CHECK_EQUAL(b1["total_ns_per_gib"], 250 * kMs);
  BOOST_CHECK_EQUAL(copy_class(copies, "HtoD", "<1 MiB", "pinned/2M")["pin"]["buffers"], 1);
  const json& b2 = copy_class(copies, "HtoD", "16-256 MiB", "pinned/native")["pin"];
  BOOST_CHECK_EQUAL(b2["buffers"], 1);
  BOOST_CHECK_EQUAL(b2["register_ns_per_gib"], 0);
  BOOST_CHECK_EQUAL(b2["total_ns_per_gib"], 256 * kMs);  // 64 ms for a quarter GiB
  // Before B1 was pinned, inside B3 after its free, at 4343's buffer: none.
  for (const auto& [direction, backing] : {std::pair{"HtoD", "pinned/native"}, std::pair{"DtoH", "pinned/native"},
                                           std::pair{"DtoH", "pinned/1G"}}) {
    const json& pin = copy_class(copies, direction, "1-16 MiB", backing)["pin"];
    BOOST_TEST_CONTEXT(direction << " " << backing) {
      BOOST_CHECK_EQUAL(pin["copies_joined"], 0);
      BOOST_CHECK_EQUAL(pin["buffers"], 0);
      BOOST_CHECK(pin["register_ns_per_gib"].is_null());
    }
  }
  BOOST_CHECK_EQUAL(copy_class(copies, "HtoD", "16-256 MiB", "pageable")["pin"]["buffers"], 0);
  BOOST_CHECK(!process(r, 4343).contains("copies"));
}

BOOST_FIXTURE_TEST_CASE(copies_are_not_allocations, Fixture) {
  const json p = process(report(), 4242);
  bool counted = false;
  for (const json& a : p["apis"]) {
    if (a["api"] != "cudaMemcpy") continue;
    counted = true;
    BOOST_CHECK_EQUAL(a["events"], 207);  // the per-API counters include copies
    BOOST_CHECK(a["coverage"].empty());
    BOOST_CHECK(a["latency"].empty());
  }
  BOOST_CHECK(counted);
  for (const char* list : {"largest", "slowest"}) {
    BOOST_CHECK(!p[list].empty());
    for (const json& e : p[list]) BOOST_CHECK_NE(e["api"], "cudaMemcpy");
  }
}

BOOST_FIXTURE_TEST_CASE(text_and_csv, Fixture) {
  const json r = report();
  std::ostringstream text, csv;
  render_text(r, text);
  render_csv(r, csv);
  BOOST_TEST_MESSAGE(text.str());
  BOOST_CHECK(contains(text.str(), "copies (CUPTI): 207 host<->device copies"));
  BOOST_CHECK(contains(text.str(), "19% of HtoD bytes came from pageable memory: the driver staged them"));
  BOOST_CHECK(contains(text.str(), "0% of DtoH bytes came from pageable memory\n"));
  BOOST_CHECK(contains(text.str(), "HtoD    1-16 MiB   pinned/2M         200   762.9 MiB     4.0     2.0     2.0  "
                                   "register 200.0 ms/GiB, whole call 250.0 ms/GiB (1 buffer, 1.0 GiB; 200 of 200 copies)"));
  BOOST_CHECK(contains(text.str(), "DtoH    1-16 MiB   pinned/1G           1     7.6 MiB    20.0    20.0    20.0  -\n"));
  // The API table first, then the copy table after a blank line.
  const std::string out = csv.str();
  const size_t table = out.find("\npid,exe,direction,size_class,");
  BOOST_REQUIRE(table != std::string::npos);
  BOOST_CHECK(out.rfind("pid,exe,api,", 0) == 0);
  BOOST_CHECK(contains(out, "\n4242,\"/opt/app/server\",cudaMemcpy,207,207,0,0,"));
  BOOST_CHECK(contains(out.substr(table), "\n4242,\"/opt/app/server\",HtoD,\"1-16 MiB\",1048576,16777216,pinned/2M,200,"
                                          "800000000,0,"));
  BOOST_CHECK(contains(out.substr(table), ",1,1073741824,200000000,250000000,200\n"));
  BOOST_CHECK(contains(out.substr(table), "\n4242,\"/opt/app/server\",HtoD,\">=256 MiB\"") == false);
  BOOST_CHECK(contains(render_json(r), "\"bandwidth_unit\": \"GB/s (10^9 bytes/s)"));
}

BOOST_FIXTURE_TEST_CASE(perfetto_copy_tracks, Fixture) {
  std::ostringstream out;
  {
    Database db(path, Database::Mode::read_only);
    write_perfetto_trace(db, out);
  }
  const json trace = json::parse(out.str());
  std::map<int64_t, std::string> track_names;  // tid -> name, pid 4242
  std::vector<json> copies;
  double mapped_2m = -1;
  for (const json& e : trace["traceEvents"]) {
    if (e["ph"] == "M" && e["name"] == "thread_name" && e["pid"] == 4242) track_names[e["tid"]] = e["args"]["name"];
    if (e["ph"] == "X" && e["cat"] == "copy") copies.push_back(e);
    if (e["ph"] == "X") BOOST_CHECK_NE(e["name"], "cudaMemcpy");
    if (e["ph"] == "C" && e["name"] == "bytes mapped by large events" && e["pid"] == 4242)
      mapped_2m = e["args"]["2M"].get<double>();
  }
  BOOST_CHECK_EQUAL(copies.size(), 207u);
  bool found = false;
  for (const json& c : copies) {
    BOOST_CHECK_EQUAL(c["pid"], 4242);
    BOOST_CHECK_EQUAL(track_names[c["tid"]], "GPU copies (stream 7)");
    if (c["name"] == "HtoD 3.8 MiB pinned/2M 400.0 GB/s") {
      found = true;
      BOOST_CHECK_CLOSE(c["dur"].get<double>(), 10.0, 1e-9);  // microseconds
      BOOST_CHECK_EQUAL(c["args"]["bytes"], 4'000'000);
      BOOST_CHECK_EQUAL(c["args"]["stream"], 7);
    }
  }
  BOOST_CHECK(found);
  BOOST_CHECK_GE(track_names.begin()->first, 0);
  // Copies map nothing: the counter holds the allocations' 2 MiB bytes only.
  BOOST_CHECK_EQUAL(mapped_2m, static_cast<double>(kGiB + 64 * kMiB));
}

BOOST_AUTO_TEST_CASE(overlapping_copies_of_one_stream_get_a_second_track) {
  hugeshim_test::TempDir dir;
  const std::string path = dir.file("overlap.db");
  write_recording(path, {{4242,
                          {copy_record(HUGESHIM_COPY_DTOH, HUGESHIM_COPY_MEMORY_PAGEABLE, 0x1000, 1 << 20,
                                       5'000'000'000, 100'000, -1, 9),
                           copy_record(HUGESHIM_COPY_DTOH, HUGESHIM_COPY_MEMORY_PAGEABLE, 0x1000, 1 << 20,
                                       5'000'050'000, 100'000, -1, 9),
                           copy_record(HUGESHIM_COPY_HTOD, HUGESHIM_COPY_MEMORY_PAGEABLE, 0x1000, 1 << 20,
                                       5'000'050'000, 100'000, -1, 3)}}});
  Database db(path, Database::Mode::read_only);
  std::map<int64_t, std::string> names;
  std::vector<json> slices;
  write_copy_slices(db, 5'000'000'000, [&](const json& e) {
    if (e["name"] == "thread_name") names[e["tid"]] = e["args"]["name"];
    if (e["ph"] == "X") slices.push_back(e);
  });
  BOOST_REQUIRE_EQUAL(slices.size(), 3u);
  std::set<std::string> used;
  for (const json& s : slices) used.insert(names[s["tid"]]);
  BOOST_CHECK((used == std::set<std::string>{"GPU copies (stream 3)", "GPU copies (stream 9)",
                                              "GPU copies (stream 9, overlap 1)"}));
  BOOST_CHECK_EQUAL(slices[0]["name"], "HtoD 1.0 MiB pageable 10.5 GB/s");
  BOOST_CHECK_CLOSE(slices[0]["ts"].get<double>(), 50.0, 1e-9);
}

BOOST_AUTO_TEST_CASE(a_recording_of_the_schema_before_copies_gains_the_columns) {
  hugeshim_test::TempDir dir;
  const std::string path = dir.file("old.db");
  write_recording(path, {{4242, {pin_record(HUGESHIM_API_CUDA_HOST_ALLOC, kB1, kGiB, 2'000'000'000, 250 * kMs,
                                            200 * kMs),
                                 pin_record(HUGESHIM_API_MALLOC, kB2, kGiB, 2'000'000'000, kMs, 0)}}});
  auto columns = [&] {
    Database db(path, Database::Mode::read_only);
    Statement q = db.prepare("SELECT group_concat(name, ',') FROM pragma_table_info('events')");
    return q.step() ? q.text(0) : std::string();
  };
  {  // the events table as the schema before copy events had it
    Database db(path, Database::Mode::read_write);
    for (const char* c : {"stream", "correlation", "copy_kind", "host_memory"})
      db.exec(std::string("ALTER TABLE events DROP COLUMN ") + c);
  }
  BOOST_REQUIRE(!contains(columns(), "copy_kind"));
  {  // read as it is: no copies section, the rest as before
    Database db(path, Database::Mode::read_only);
    const json r = build_report(db, 5);
    BOOST_CHECK(!process(r, 4242).contains("copies"));
    BOOST_CHECK_EQUAL(process(r, 4242)["largest"].size(), 2u);
    std::ostringstream trace;
    write_perfetto_trace(db, trace);
    BOOST_CHECK_NO_THROW(json::parse(trace.str()));
  }
  // Appended to (record, run --append): the columns come back, old rows kept.
  write_recording(path, {{4242, {copy_record(HUGESHIM_COPY_HTOD, HUGESHIM_COPY_MEMORY_PINNED, kB1, 4'000'000,
                                             3'000'000'000, 100'000, HUGESHIM_PAGE_2M)},
                          2}});
  BOOST_CHECK(contains(columns(), "caller_offset,stream,correlation,copy_kind,host_memory"));
  Database db(path, Database::Mode::read_only);
  Statement rows = db.prepare(
      "SELECT count(*), sum(copy_kind IS NULL), sum(copy_kind = 'HtoD' AND host_memory = 'pinned' AND stream = 7) "
      "FROM events");
  BOOST_REQUIRE(rows.step());
  BOOST_CHECK_EQUAL(rows.int64(0), 3);  // the two old rows and the copy
  BOOST_CHECK_EQUAL(rows.int64(1), 2);
  BOOST_CHECK_EQUAL(rows.int64(2), 1);
  const json copies = process(build_report(db, 5), 4242)["copies"];
  BOOST_CHECK_EQUAL(copy_class(copies, "HtoD", "1-16 MiB", "pinned/2M")["pin"]["register_ns_per_gib"], 200 * kMs);
}
