// End to end: a ring segment holding copy records (written here as the shim
// lays one out, for a process that is gone) is drained by the real
// `hugeshim record`, then `hugeshim report --format json` and
// `hugeshim export --format perfetto` read the recording.
#define BOOST_TEST_MODULE copy_record_e2e
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "copy_records.h"
#include "process.h"
#include "ring_image.h"
#include "temp_dir.h"

using namespace hugeshim_copy_test;
using nlohmann::json;

namespace {

constexpr int32_t kDeadPid = 0x7ffffff0;  // above any pid_max: never running
const std::string kHugeshim = std::string(HUGESHIM_BIN_DIR) + "/hugeshim";

// A segment of a process that has exited, its records published as the
// producer publishes them.
void write_segment(const std::string& path, const std::vector<hugeshim_ring_record>& records) {
  std::vector<uint64_t> image = hugeshim_test::ring_image(64);
  auto* h = reinterpret_cast<hugeshim_ring_header*>(image.data());
  h->pid = kDeadPid;
  h->start_ticks = 1;
  h->start_monotonic_ns = 1'000'000'000;
  h->producer_state = HUGESHIM_PRODUCER_EXITED;
  strcpy(h->exe, "/usr/bin/copier");
  auto* slots = reinterpret_cast<hugeshim_ring_slot*>(h + 1);
  for (const hugeshim_ring_record& r : records) {
    const uint64_t index = h->enqueue_pos & (h->capacity - 1);
    slots[index].record = r;
    slots[index].seq = h->enqueue_pos - index + 1;
    hugeshim_ring_api_counters& c = h->counters[r.api];
    ++c.events;
    ++c.records_written;
    c.bytes_requested += r.requested;
    ++h->enqueue_pos;
  }
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(image.data()), static_cast<std::streamsize>(image.size() * 8));
}

}  // namespace

BOOST_AUTO_TEST_CASE(record_drains_copy_records_and_report_shows_them) {
  hugeshim_test::TempDir rings("/dev/shm/hugeshim-test-"), out;
  constexpr uint64_t kBuffer = 0x7f0000000000, kMs = 1'000'000;
  std::vector<hugeshim_ring_record> records = {
      pin_record(HUGESHIM_API_CUDA_HOST_ALLOC, kBuffer, 64 << 20, 2'000'000'000, 30 * kMs, 20 * kMs)};
  // 10 copies of 16 MiB from the buffer, 1..10 ms each; 2 pageable DtoH copies.
  for (uint64_t i = 1; i <= 10; ++i)
    records.push_back(copy_record(HUGESHIM_COPY_HTOD, HUGESHIM_COPY_MEMORY_PINNED, kBuffer, 16'000'000,
                                  3'000'000'000 + i * 20 * kMs, i * kMs, HUGESHIM_PAGE_2M));
  for (uint64_t i = 0; i < 2; ++i)
    records.push_back(copy_record(HUGESHIM_COPY_DTOH, HUGESHIM_COPY_MEMORY_PAGEABLE, 0x600000, 256 * 1024,
                                  4'000'000'000 + i * kMs, 100'000));
  write_segment(rings.file("ring-" + std::to_string(kDeadPid) + "-1-1.hsr"), records);
  const std::string db = out.file("rec.db");
  const auto recorded = hugeshim_test::run({kHugeshim, "record", "--dir", rings.path(), "-o", db, "--duration", "2"});
  BOOST_TEST_MESSAGE(recorded.err);
  BOOST_REQUIRE_EQUAL(recorded.status, 0);
  BOOST_CHECK(std::filesystem::is_empty(rings.path()));
  if (getenv("KEEP")) std::filesystem::copy_file(db, getenv("KEEP"));  // drained, the dead process's segment removed

  const auto report = hugeshim_test::run({kHugeshim, "report", db, "--format", "json"});
  BOOST_REQUIRE_EQUAL(report.status, 0);
  const json p = json::parse(report.out)["processes"].at(0);
  BOOST_CHECK_EQUAL(p["pid"], kDeadPid);
  const json& copies = p["copies"];
  BOOST_CHECK_EQUAL(copies["count"], 12);
  bool pinned = false, pageable = false;
  for (const json& c : copies["classes"]) {
    if (c["backing"] == "pinned/2M") {
      pinned = true;
      BOOST_CHECK_EQUAL(c["direction"], "HtoD");
      BOOST_CHECK_EQUAL(c["size_class"], "1-16 MiB");
      BOOST_CHECK_EQUAL(c["count"], 10);
      BOOST_CHECK_CLOSE(c["p50_gbps"].get<double>(), 16.0 / 6, 1e-9);  // ascending rank 5: the 6 ms copy
      BOOST_CHECK_CLOSE(c["p99_gbps"].get<double>(), 1.6, 1e-9);       // 10 copies: the slowest
      BOOST_CHECK_CLOSE(c["min_gbps"].get<double>(), 1.6, 1e-9);
      BOOST_CHECK_EQUAL(c["pin"]["copies_joined"], 10);
      BOOST_CHECK_EQUAL(c["pin"]["register_ns_per_gib"], 320 * kMs);  // 20 ms for 1/16 GiB
    } else {
      pageable = true;
      BOOST_CHECK_EQUAL(c["backing"], "pageable");
      BOOST_CHECK_EQUAL(c["direction"], "DtoH");
      BOOST_CHECK_CLOSE(c["p50_gbps"].get<double>(), 2.62144, 1e-9);
    }
  }
  BOOST_CHECK(pinned && pageable);
  for (const json& d : copies["pageable"])
    BOOST_CHECK_EQUAL(d["share"].get<double>(), d["direction"] == "DtoH" ? 1.0 : 0.0);

  const auto text = hugeshim_test::run({kHugeshim, "report", db});
  BOOST_CHECK_EQUAL(text.status, 0);
  BOOST_CHECK(text.out.find("100% of DtoH bytes came from pageable memory: the driver staged them") != std::string::npos);

  const auto trace = hugeshim_test::run({kHugeshim, "export", "--format", "perfetto", "-o", "-", db});
  BOOST_REQUIRE_EQUAL(trace.status, 0);
  int copy_slices = 0;
  const json events = json::parse(trace.out)["traceEvents"];
  for (const json& e : events)
    if (e["ph"] == "X" && e["cat"] == "copy") ++copy_slices;
  BOOST_CHECK_EQUAL(copy_slices, 12);
}
