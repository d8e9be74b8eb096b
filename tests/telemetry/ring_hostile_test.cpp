// The reader treats segments as hostile input: malformed or foreign
// segments are rejected with a clear message, garbage inside a valid-looking
// segment is bounded and skipped, and nothing crashes or hangs.
#define BOOST_TEST_MODULE ring_hostile
#include <boost/test/unit_test.hpp>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <random>
#include <sstream>
#include <sys/stat.h>
#include <vector>

#include "producer_child.h"
#include "ring_image.h"
#include "ring_reader.h"

using namespace hugeshim;
using namespace hugeshim::test;

namespace {

constexpr int32_t kDeadPid = 0x7ffffff0;  // above any pid_max: never running

// A well-formed segment image, as the producer would lay it out.
std::vector<uint64_t> valid_image(uint32_t capacity, int32_t pid = kDeadPid, uint64_t start_ticks = 1) {
  std::vector<uint64_t> image = hugeshim_test::ring_image(capacity);
  auto* h = reinterpret_cast<hugeshim_ring_header*>(image.data());
  h->pid = pid;
  h->start_ticks = start_ticks;
  h->start_monotonic_ns = 42;
  strcpy(h->exe, "/usr/bin/hostile");
  return image;
}

hugeshim_ring_header* header_of(std::vector<uint64_t>& image) {
  return reinterpret_cast<hugeshim_ring_header*>(image.data());
}
hugeshim_ring_slot* slots_of(std::vector<uint64_t>& image) {
  return reinterpret_cast<hugeshim_ring_slot*>(header_of(image) + 1);
}

// Publishes n records the way the producer does.
void publish(std::vector<uint64_t>& image, uint32_t n, uint32_t api = HUGESHIM_API_MALLOC) {
  hugeshim_ring_header* h = header_of(image);
  for (uint32_t i = 0; i < n; ++i) {
    const uint64_t index = h->enqueue_pos & (h->capacity - 1);
    hugeshim_ring_slot& s = slots_of(image)[index];
    s.record = {};
    s.record.api = api;
    s.record.requested = s.record.mapped = s.record.page_bytes[HUGESHIM_PAGE_BASE] = 4096;
    s.record.gpu = -1;
    s.seq = h->enqueue_pos - index + 1;  // published (relative to the index)
    ++h->enqueue_pos;
  }
}

void write_file(const std::string& path, const void* data, size_t size) {
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
}

std::string segment_name(int n) { return "ring-" + std::to_string(n) + "-1.hsr"; }

struct Collected {
  std::string messages;
  int64_t events = 0;
  int64_t skipped = 0;
  collector::RecorderStats stats;
};

Collected collect(const TempDir& dir) {
  std::ostringstream messages;
  collector::Store store(dir.file("rec.db"), true);
  collector::Recorder recorder(store, dir.path(), messages);
  for (int i = 0; i < 3; ++i) {
    recorder.discover();
    recorder.drain();
  }
  recorder.expand_all();
  return {messages.str(), query_int(store.db(), "SELECT count(*) FROM events"),
          query_int(store.db(), "SELECT count(*) FROM skipped_slots"), recorder.stats()};
}

std::string validate_reason(std::vector<uint64_t>& image, size_t size) {
  std::string why;
  BOOST_CHECK(!collector::RingView::validate(image.data(), size, &why));
  return why;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_CASE(valid_image_is_accepted_and_drained) {
  TempDir dir;
  auto image = valid_image(64);
  publish(image, 10);
  write_file(dir.file(segment_name(1)), image.data(), image.size() * 8);
  Collected c = collect(dir);
  BOOST_CHECK_EQUAL(c.messages, "");
  BOOST_CHECK_EQUAL(c.events, 10);
  BOOST_CHECK_EQUAL(c.stats.finished, 1u);  // dead pid: drained, then removed
  BOOST_CHECK(!std::filesystem::exists(dir.file(segment_name(1))));
}

BOOST_AUTO_TEST_CASE(malformed_headers_are_rejected_with_a_reason) {
  auto image = valid_image(64);
  const size_t size = image.size() * 8;
  BOOST_CHECK(contains(validate_reason(image, 100), "truncated"));
  BOOST_CHECK(contains(validate_reason(image, size - 1), "truncated"));
  header_of(image)->abi_version = 7;
  BOOST_CHECK(contains(validate_reason(image, size), "ring ABI version 7, this collector reads version " +
                                                         std::to_string(HUGESHIM_RING_ABI_VERSION)));
  image = valid_image(64);
  header_of(image)->capacity = 1u << 30;
  BOOST_CHECK(contains(validate_reason(image, size), "capacity 1073741824 is not a power of two in"));
  header_of(image)->capacity = 100;
  BOOST_CHECK(contains(validate_reason(image, size), "capacity 100"));
  image = valid_image(64);
  header_of(image)->capacity = 128;  // power of two, but more than the file holds
  BOOST_CHECK(contains(validate_reason(image, size), "declared segment size"));
  header_of(image)->segment_size = size * 2 - sizeof(hugeshim_ring_header);
  BOOST_CHECK(contains(validate_reason(image, size), "truncated"));
  image = valid_image(64);
  header_of(image)->slot_size = 64;
  BOOST_CHECK(contains(validate_reason(image, size), "slot size 64"));
  image = valid_image(64);
  header_of(image)->magic ^= 1;
  BOOST_CHECK(contains(validate_reason(image, size), "bad magic"));
}

BOOST_AUTO_TEST_CASE(hostile_files_in_the_directory_are_refused) {
  TempDir dir;
  std::mt19937_64 rng(7);
  std::vector<uint64_t> noise(8192);
  for (auto& w : noise) w = rng();
  write_file(dir.file(segment_name(1)), noise.data(), noise.size() * 8);  // random bytes
  auto image = valid_image(64);
  write_file(dir.file(segment_name(2)), image.data(), sizeof(hugeshim_ring_header) + 1000);  // truncated
  header_of(image)->abi_version = HUGESHIM_RING_ABI_VERSION + 1;
  write_file(dir.file(segment_name(3)), image.data(), image.size() * 8);  // wrong version
  image = valid_image(64);
  header_of(image)->capacity = 1u << 31;
  write_file(dir.file(segment_name(4)), image.data(), image.size() * 8);  // huge capacity
  image = valid_image(64);
  write_file(dir.file(segment_name(5)), image.data(), image.size() * 8);  // someone else's
  BOOST_REQUIRE(chown(dir.file(segment_name(5)).c_str(), 65534, 65534) == 0);
  BOOST_REQUIRE(symlink("/etc/passwd", dir.file(segment_name(6)).c_str()) == 0);  // a symlink

  Collected c = collect(dir);
  BOOST_TEST_MESSAGE(c.messages);
  BOOST_CHECK_EQUAL(c.stats.rejected, 6u);
  BOOST_CHECK_EQUAL(c.events, 0);
  BOOST_CHECK(contains(c.messages, segment_name(1) + ": bad magic"));
  BOOST_CHECK(contains(c.messages, segment_name(2) + ": truncated"));
  BOOST_CHECK(contains(c.messages, segment_name(3) + ": ring ABI version " +
                                        std::to_string(HUGESHIM_RING_ABI_VERSION + 1)));
  BOOST_CHECK(contains(c.messages, segment_name(4) + ": capacity 2147483648"));
  BOOST_CHECK(contains(c.messages, segment_name(5) + ": owned by uid 65534"));
  BOOST_CHECK(contains(c.messages, segment_name(6) + ": cannot open"));
  // Each is reported once, however often the directory is scanned.
  BOOST_CHECK_EQUAL(std::count(c.messages.begin(), c.messages.end(), '\n'), 6);
}

BOOST_AUTO_TEST_CASE(garbage_indices_and_records_stay_bounded) {
  TempDir dir;
  auto image = valid_image(64);
  publish(image, 5);
  publish(image, 3, 999);  // committed, but the api code is nonsense
  std::mt19937_64 rng(11);
  // Then wreck the queue state: positions far apart, random sequence numbers.
  header_of(image)->enqueue_pos = 1ull << 40;
  header_of(image)->dequeue_pos = 0;
  for (uint32_t i = 8; i < 64; ++i) slots_of(image)[i].seq = rng();
  write_file(dir.file(segment_name(1)), image.data(), image.size() * 8);
  Collected c = collect(dir);
  BOOST_CHECK_EQUAL(c.events, 5);
  // The rest of one lap is taken as torn (the producer is gone), never more.
  BOOST_CHECK_EQUAL(c.skipped, 64 - 5);
  BOOST_CHECK_EQUAL(c.stats.finished, 1u);

  TempDir dir2;
  image = valid_image(64);
  header_of(image)->dequeue_pos = 0xdeadbeefcafeull;
  header_of(image)->enqueue_pos = 3;  // behind the consumer
  write_file(dir2.file(segment_name(1)), image.data(), image.size() * 8);
  c = collect(dir2);
  BOOST_CHECK_EQUAL(c.events, 0);
  BOOST_CHECK_EQUAL(c.skipped, 0);
  BOOST_CHECK_EQUAL(c.stats.finished, 1u);
}

BOOST_AUTO_TEST_CASE(file_shrinking_under_the_mapping_does_not_crash) {
  TempDir dir;
  // Our own pid and start time: the "producer" is alive, so the segment stays attached.
  std::ifstream stat("/proc/self/stat");
  std::string line;
  std::getline(stat, line);
  std::istringstream fields(line.substr(line.rfind(')') + 2));
  std::string f;
  uint64_t ticks = 0;
  for (int i = 3; i <= 22 && fields >> f; ++i)
    if (i == 22) ticks = std::stoull(f);
  auto image = valid_image(1024, getpid(), ticks);
  publish(image, 4);
  const std::string path = dir.file(segment_name(1));
  write_file(path, image.data(), image.size() * 8);
  std::ostringstream messages;
  collector::Store store(dir.file("rec.db"), true);
  collector::Recorder recorder(store, dir.path(), messages);
  recorder.discover();
  recorder.drain();
  BOOST_REQUIRE_EQUAL(recorder.attached(), 1u);
  publish(image, 2);
  BOOST_REQUIRE(truncate(path.c_str(), 4096) == 0);
  recorder.drain();
  BOOST_CHECK_EQUAL(recorder.attached(), 0u);
  BOOST_CHECK(contains(messages.str(), "file shrank while being read"));
  recorder.expand_all();
  BOOST_CHECK_EQUAL(query_int(store.db(), "SELECT count(*) FROM events"), 4);
}

BOOST_AUTO_TEST_CASE(directory_of_another_user_is_refused) {
  TempDir dir;
  BOOST_REQUIRE(chown(dir.path().c_str(), 65534, 65534) == 0);
  collector::Store store("/dev/shm/hugeshim-hostile-test.db", true);
  std::ostringstream messages;
  BOOST_CHECK_EXCEPTION(collector::Recorder(store, dir.path(), messages), std::runtime_error,
                        [](const std::runtime_error& e) { return contains(e.what(), "belongs to uid 65534"); });
  for (const char* suffix : {"", "-wal", "-shm"}) unlink((std::string("/dev/shm/hugeshim-hostile-test.db") + suffix).c_str());
}
