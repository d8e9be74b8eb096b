// The raw ring-buffer page parser and the event decoder, against pages
// built here from the kernel's own format files (captured from this
// machine's tracefs into tests/kernel/formats; the live files are checked
// too when tracefs is readable): data records short and long, padding,
// time extends, absolute timestamps, the lost-events flags of the commit
// word, and truncated or hostile pages (no crash, counted as damaged).
#define BOOST_TEST_MODULE trace_page_parser
#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "ring_buffer_page.h"
#include "trace_event_format.h"

using namespace hugeshim::collector;

namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(HUGESHIM_SOURCE_DIR) + "/tests/kernel/formats/" + name);
  BOOST_REQUIRE_MESSAGE(in, "missing fixture " << name);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

EventFormat format(const std::string& file, const std::string& system) {
  auto f = parse_event_format(fixture(file), system);
  BOOST_REQUIRE(f);
  return *f;
}

const TraceField& field(const EventFormat& f, const std::string& name) {
  for (const TraceField& x : f.fields)
    if (x.name == name) return x;
  BOOST_FAIL("no field " << name);
  throw;
}

// An event record laid out as the format file says.
struct RecordBuilder {
  const EventFormat& format;
  std::vector<uint8_t> bytes;
  RecordBuilder(const EventFormat& f, int32_t tid, size_t size) : format(f), bytes(size) {
    uint16_t type = static_cast<uint16_t>(f.id);
    memcpy(bytes.data() + f.type_offset, &type, 2);
    memcpy(bytes.data() + f.pid_offset, &tid, 4);
  }
  template <class T>
  RecordBuilder& set(const std::string& name, T value) {
    const TraceField& x = field(format, name);
    BOOST_REQUIRE_EQUAL(x.size, sizeof(T));
    memcpy(bytes.data() + x.offset, &value, sizeof(T));
    return *this;
  }
  // A __data_loc field: its bytes appended at the end of the record.
  RecordBuilder& dynamic(const std::string& name, const void* data, size_t len) {
    const TraceField& x = field(format, name);
    const uint32_t loc = static_cast<uint32_t>(bytes.size()) | static_cast<uint32_t>(len) << 16;
    memcpy(bytes.data() + x.offset, &loc, 4);
    const auto* p = static_cast<const uint8_t*>(data);
    bytes.insert(bytes.end(), p, p + len);
    return *this;
  }
};

// A ring-buffer page as the kernel writes it (kernel/trace/ring_buffer.c):
// u64 timestamp, u64 commit, then 4-byte-aligned records.
struct PageBuilder {
  PageLayout layout;
  RecordTypes types;
  std::vector<uint8_t> data;
  uint64_t ts;
  explicit PageBuilder(uint64_t page_ts) : ts(page_ts) {
    layout = *parse_header_page(fixture("header_page"));
    types = *parse_header_event(fixture("header_event"));
  }
  void header(uint32_t type_len, uint32_t delta) {
    uint32_t h = type_len | delta << 5;
    append(&h, 4);
  }
  void append(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    data.insert(data.end(), b, b + n);
  }
  void u32(uint32_t v) { append(&v, 4); }
  // Short records carry their length in type_len; long ones (or any, when
  // forced) in array[0].
  void record(uint32_t delta, const std::vector<uint8_t>& payload, bool long_form = false) {
    std::vector<uint8_t> p = payload;
    p.resize((p.size() + 3) & ~size_t{3});
    if (!long_form && p.size() / 4 <= types.data_max) {
      header(static_cast<uint32_t>(p.size() / 4), delta);
    } else {
      header(0, delta);
      u32(static_cast<uint32_t>(p.size() + 4));
    }
    append(p.data(), p.size());
  }
  void time_extend(uint64_t delta) {
    header(types.time_extend, static_cast<uint32_t>(delta & ((1u << 27) - 1)));
    u32(static_cast<uint32_t>(delta >> 27));
  }
  void time_stamp(uint64_t absolute) {
    header(types.time_stamp, static_cast<uint32_t>(absolute & ((1u << 27) - 1)));
    u32(static_cast<uint32_t>(absolute >> 27));
  }
  void discarded(uint32_t bytes_after_length) {
    header(types.padding, 5);
    u32(bytes_after_length + 4);
    data.resize(data.size() + bytes_after_length);
  }
  std::vector<uint8_t> page(uint64_t commit_flags = 0, std::optional<uint64_t> stored_missed = {}) const {
    std::vector<uint8_t> out(layout.data_offset + layout.data_size, 0);
    memcpy(out.data() + layout.timestamp_offset, &ts, 8);
    const uint64_t commit = data.size() | commit_flags;
    memcpy(out.data() + layout.commit_offset, &commit, 8);
    memcpy(out.data() + layout.data_offset, data.data(), data.size());
    if (stored_missed) memcpy(out.data() + layout.data_offset + data.size(), &*stored_missed, 8);
    return out;
  }
};

nlohmann::json decode(const EventFormat& f, const RingRecord& r, int32_t* tid) {
  std::string json;
  BOOST_REQUIRE(decode_event(f, r.data, r.size, tid, &json));
  return nlohmann::json::parse(json);
}

}  // namespace

BOOST_AUTO_TEST_CASE(header_files_give_the_page_layout_and_record_types) {
  auto layout = parse_header_page(fixture("header_page"));
  BOOST_REQUIRE(layout);
  BOOST_TEST(layout->timestamp_offset == 0u);
  BOOST_TEST(layout->commit_offset == 8u);
  BOOST_TEST(layout->commit_size == 8u);
  BOOST_TEST(layout->data_offset == 16u);
  BOOST_TEST(layout->data_size == 4080u);
  auto types = parse_header_event(fixture("header_event"));
  BOOST_REQUIRE(types);
  BOOST_TEST(types->padding == 29u);
  BOOST_TEST(types->time_extend == 30u);
  BOOST_TEST(types->time_stamp == 31u);
  BOOST_TEST(types->data_max == 28u);
  BOOST_TEST(!parse_header_page("nothing here"));
  BOOST_TEST(!parse_header_event(""));
}

BOOST_AUTO_TEST_CASE(format_files_give_ids_and_field_kinds) {
  EventFormat alloc = format("kmem_mm_page_alloc.format", "kmem");
  BOOST_TEST(alloc.full_name() == "kmem:mm_page_alloc");
  BOOST_TEST(alloc.id > 0u);
  BOOST_TEST(alloc.fields.size() == 4u);  // no common_* fields
  BOOST_TEST(field(alloc, "order").size == 4u);
  BOOST_TEST(!field(alloc, "order").is_signed);
  BOOST_TEST(field(alloc, "migratetype").is_signed);
  EventFormat sg = format("dma_dma_map_sg.format", "dma");
  BOOST_TEST((field(sg, "device").kind == TraceField::Kind::dynamic_chars));
  BOOST_TEST((field(sg, "phys_addrs").kind == TraceField::Kind::dynamic_array));
  BOOST_TEST(field(sg, "phys_addrs").element_size == 8u);
  BOOST_TEST(field(sg, "lengths").element_size == 4u);
  BOOST_TEST(!parse_event_format("name: x\nformat:\n", "s"));  // no ID
}

BOOST_AUTO_TEST_CASE(live_format_files_parse_when_tracefs_is_readable) {
  std::ifstream page("/sys/kernel/tracing/events/header_page");
  if (!page) {
    BOOST_TEST_MESSAGE("skipped: /sys/kernel/tracing is not readable here");
    return;
  }
  std::stringstream s;
  s << page.rdbuf();
  BOOST_TEST(parse_header_page(s.str()).has_value());
  for (const char* e : {"kmem/mm_page_alloc", "exceptions/page_fault_user", "compaction/mm_compaction_begin"}) {
    std::ifstream in(std::string("/sys/kernel/tracing/events/") + e + "/format");
    if (!in) continue;
    std::stringstream t;
    t << in.rdbuf();
    BOOST_TEST(parse_event_format(t.str(), "x").has_value(), e);
  }
}

BOOST_AUTO_TEST_CASE(records_padding_and_time_records_decode_in_order) {
  EventFormat alloc = format("kmem_mm_page_alloc.format", "kmem");
  EventFormat fault = format("exceptions_page_fault_user.format", "exceptions");
  PageBuilder b(1'000'000);
  RecordBuilder a(alloc, 4242, 40);
  a.set<uint64_t>("pfn", 0x12345).set<uint32_t>("order", 9).set<uint64_t>("gfp_flags", 0x140dca).set<int32_t>("migratetype", 1);
  b.record(100, a.bytes);  // short form: 40 bytes in type_len 10
  b.discarded(24);         // a filtered-out record left as padding
  b.time_extend(uint64_t{5} << 30);  // a gap too long for 27 bits
  RecordBuilder f(fault, 4243, 32);
  f.set<uint64_t>("address", 0x7f0000200000).set<uint64_t>("ip", 0x401000).set<uint64_t>("error_code", 6);
  b.record(7, f.bytes, /*long_form=*/true);
  b.time_stamp(9'000'000'000);
  b.record(3, a.bytes);
  const std::vector<uint8_t> bytes = b.page();
  const RingPage page = parse_ring_page(bytes.data(), bytes.size(), b.layout, b.types);
  BOOST_TEST(!page.damaged);
  BOOST_TEST(!page.missed);
  BOOST_REQUIRE_EQUAL(page.records.size(), 3u);
  BOOST_TEST(page.records[0].ts == 1'000'100u);
  BOOST_TEST(page.records[1].ts == 1'000'100u + (uint64_t{5} << 30) + 7);
  BOOST_TEST(page.records[2].ts == 9'000'000'003u);
  int32_t tid = 0;
  nlohmann::json j = decode(alloc, page.records[0], &tid);
  BOOST_TEST(tid == 4242);
  BOOST_TEST(j["pfn"].get<uint64_t>() == 0x12345u);
  BOOST_TEST(j["order"].get<uint64_t>() == 9u);
  BOOST_TEST(j["migratetype"].get<int64_t>() == 1);
  BOOST_TEST(!j.contains("common_pid"));
  j = decode(fault, page.records[1], &tid);
  BOOST_TEST(tid == 4243);
  BOOST_TEST(j["address"].get<uint64_t>() == 0x7f0000200000u);
  BOOST_TEST(j["error_code"].get<uint64_t>() == 6u);
  BOOST_TEST(*record_type(page.records[1].data, page.records[1].size, alloc) == fault.id);
}

BOOST_AUTO_TEST_CASE(dynamic_strings_and_arrays_decode) {
  EventFormat sg = format("dma_dma_map_sg.format", "dma");
  RecordBuilder r(sg, 7, 48);
  r.set<int32_t>("full_nents", 2).set<int32_t>("full_ents", 2).set<uint32_t>("dir", 1).set<uint64_t>("attrs", 0);
  const char device[] = "0000:3b:00.0";
  r.dynamic("device", device, sizeof device);
  const uint64_t phys[2] = {0x100000000, 0x100200000};
  r.dynamic("phys_addrs", phys, sizeof phys);
  r.dynamic("dma_addrs", phys, sizeof phys);
  const uint32_t lengths[2] = {2u << 20, 2u << 20};
  r.dynamic("lengths", lengths, sizeof lengths);
  PageBuilder b(10);
  b.record(1, r.bytes);
  const std::vector<uint8_t> bytes = b.page();
  const RingPage page = parse_ring_page(bytes.data(), bytes.size(), b.layout, b.types);
  BOOST_REQUIRE_EQUAL(page.records.size(), 1u);
  int32_t tid = 0;
  nlohmann::json j = decode(sg, page.records[0], &tid);
  BOOST_TEST(j["device"] == "0000:3b:00.0");
  BOOST_TEST(j["phys_addrs"] == nlohmann::json::array({0x100000000ull, 0x100200000ull}));
  BOOST_TEST(j["lengths"] == nlohmann::json::array({2u << 20, 2u << 20}));
  // A location past the record's end is refused, not read.
  std::vector<uint8_t> bad = r.bytes;
  const uint32_t loc = 0xfff0u | 64u << 16;
  memcpy(bad.data() + field(sg, "device").offset, &loc, 4);
  std::string json;
  BOOST_TEST(!decode_event(sg, bad.data(), bad.size(), &tid, &json));
  BOOST_TEST(!decode_event(sg, r.bytes.data(), 6, &tid, &json));  // shorter than common_pid
}

BOOST_AUTO_TEST_CASE(lost_event_flags_of_the_commit_word) {
  EventFormat fault = format("exceptions_page_fault_user.format", "exceptions");
  PageBuilder b(50);
  b.record(1, RecordBuilder(fault, 1, 32).bytes);
  const uint64_t missed = uint64_t{1} << 31, stored = uint64_t{1} << 30;
  std::vector<uint8_t> bytes = b.page(missed | stored, 1234);
  RingPage page = parse_ring_page(bytes.data(), bytes.size(), b.layout, b.types);
  BOOST_TEST(page.missed);
  BOOST_TEST(page.missed_count == 1234u);
  BOOST_TEST(page.records.size() == 1u);
  bytes = b.page(missed);  // lost, count not stored
  page = parse_ring_page(bytes.data(), bytes.size(), b.layout, b.types);
  BOOST_TEST(page.missed);
  BOOST_TEST(page.missed_count == 0u);
  BOOST_TEST(page.records.size() == 1u);
}

BOOST_AUTO_TEST_CASE(truncated_and_hostile_pages_are_counted_not_followed) {
  EventFormat fault = format("exceptions_page_fault_user.format", "exceptions");
  PageBuilder b(50);
  b.record(1, RecordBuilder(fault, 1, 32).bytes);
  b.record(1, RecordBuilder(fault, 2, 32).bytes);
  std::vector<uint8_t> bytes = b.page();
  // Shorter than the page header.
  BOOST_TEST(parse_ring_page(bytes.data(), 10, b.layout, b.types).damaged);
  // A commit larger than the page.
  std::vector<uint8_t> big = bytes;
  const uint64_t commit = 5000;
  memcpy(big.data() + 8, &commit, 8);
  BOOST_TEST(parse_ring_page(big.data(), big.size(), b.layout, b.types).damaged);
  // Cut inside the second record: the first is kept, the page is damaged.
  RingPage cut = parse_ring_page(bytes.data(), 16 + 36 + 10, b.layout, b.types);
  BOOST_TEST(cut.damaged);
  BOOST_TEST(cut.records.size() == 1u);
  // A long record whose length runs past the commit.
  PageBuilder l(0);
  l.header(0, 1);
  l.u32(4000);
  l.u32(0);
  bytes = l.page();
  RingPage longer = parse_ring_page(bytes.data(), bytes.size(), l.layout, l.types);
  BOOST_TEST(longer.damaged);
  BOOST_TEST(longer.records.empty());
  // Random pages: never a crash, every record inside the page.
  std::mt19937_64 rng(16);
  for (int i = 0; i < 5000; ++i) {
    std::vector<uint8_t> junk(4096);
    for (auto& x : junk) x = static_cast<uint8_t>(rng());
    const uint64_t c = rng() % 4200;
    memcpy(junk.data() + 8, &c, 8);
    const size_t size = rng() % 4097;
    const RingPage p = parse_ring_page(junk.data(), size, b.layout, b.types);
    for (const RingRecord& r : p.records) {
      BOOST_REQUIRE(r.data >= junk.data());
      BOOST_REQUIRE(r.data + r.size <= junk.data() + size);
      int32_t tid;
      std::string json;
      decode_event(fault, r.data, r.size, &tid, &json);
    }
  }
}
