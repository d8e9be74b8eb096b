// The options table: sizes in every accepted form, and bad values giving one
// clear stderr line (variable, value, accepted forms) with the default kept.
#define BOOST_TEST_MODULE options
#include <boost/test/unit_test.hpp>

#include <cstdlib>

#include "hugeshim/options.h"
#include "probe_client.h"

using namespace hugeshim_test;
using hugeshim::parse_size;

BOOST_AUTO_TEST_CASE(sizes_accept_binary_suffixes_and_plain_bytes) {
  size_t n = 0;
  BOOST_CHECK(parse_size("2M", &n) && n == 2ull << 20);
  BOOST_CHECK(parse_size("64MiB", &n) && n == 64ull << 20);
  BOOST_CHECK(parse_size("1G", &n) && n == 1ull << 30);
  BOOST_CHECK(parse_size("1GB", &n) && n == 1ull << 30);
  BOOST_CHECK(parse_size("4096", &n) && n == 4096);
  BOOST_CHECK(parse_size("512k", &n) && n == 512ull << 10);
  BOOST_CHECK(parse_size("0", &n) && n == 0);
  for (const char* bad : {"", "M", "2X", "-1", "2 M", "1.5G", "99999999999999999999", "16777216T", "2MiBs"})
    BOOST_CHECK_MESSAGE(!parse_size(bad, &n), "accepted " << bad);
}

BOOST_AUTO_TEST_CASE(defaults_parse_and_every_row_is_documented) {
  for (const char* name : {"HUGESHIM_MIN_SIZE", "HUGESHIM_PAGES", "HUGESHIM_CACHE"}) unsetenv(name);
  hugeshim::options_load();
  const auto& o = hugeshim::g_options;
  BOOST_CHECK_EQUAL(o.min_size, 4ull << 20);
  BOOST_CHECK_EQUAL(o.ladder_len, 3);
  BOOST_CHECK_EQUAL(o.register_max, 256ull << 30);
  BOOST_CHECK_EQUAL(o.ring_slots, 16384u);
  size_t count = 0;
  const hugeshim::OptionInfo* rows = hugeshim::options_table(&count);
  BOOST_CHECK_GE(count, 17u);
  for (size_t i = 0; i < count; ++i) {
    BOOST_CHECK(rows[i].help && *rows[i].help);
    BOOST_CHECK(rows[i].accepted && *rows[i].accepted);
    char value[256];
    hugeshim::option_effective_value(i, value, sizeof value);
    BOOST_CHECK_MESSAGE(*value, rows[i].name << " has no effective value");
  }
}

BOOST_AUTO_TEST_CASE(env_values_are_applied) {
  setenv("HUGESHIM_MIN_SIZE", "64MiB", 1);
  setenv("HUGESHIM_PAGES", "thp,2M", 1);
  setenv("HUGESHIM_NUMA", "1", 1);
  hugeshim::options_load();
  const auto& o = hugeshim::g_options;
  BOOST_CHECK_EQUAL(o.min_size, 64ull << 20);
  BOOST_REQUIRE_EQUAL(o.ladder_len, 2);
  BOOST_CHECK(o.ladder[0] == hugeshim::Rung::thp);
  BOOST_CHECK(o.numa == hugeshim::NumaMode::node && o.numa_node == 1);
  unsetenv("HUGESHIM_MIN_SIZE");
  unsetenv("HUGESHIM_PAGES");
  unsetenv("HUGESHIM_NUMA");
}

BOOST_AUTO_TEST_CASE(bad_values_print_one_clear_line_and_keep_the_default) {
  struct Case {
    const char* name;
    const char* value;
    const char* accepted_fragment;
  };
  const Case cases[] = {
      {"HUGESHIM_MIN_SIZE", "banana", "2M, 64MiB, 1G"},
      {"HUGESHIM_PAGES", "3M", "1G, 2M, thp"},
      {"HUGESHIM_NUMA", "near", "auto|none|interleave|NODE"},
      {"HUGESHIM_POPULATE", "sometimes", "lazy|eager"},
      {"HUGESHIM_RING_SLOTS", "1000", "power of two"},
      {"HUGESHIM_REGISTER_MAX", "3M", "multiple of 2MiB"},
      {"HUGESHIM_LOG", "loud", "off|warn|info|debug"},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.name << "=" << c.value) {
      // A bad HUGESHIM_PAGES means the default ladder, which reaches the
      // pool: this test holds the pool lock for that one case.
      Probe probe(with_shim({{c.name, c.value}}));
      // The default still applies: a 64 MiB malloc is redirected (2 MiB aligned).
      Answer a = probe.call("malloc " + std::to_string(64 * kMiB));
      BOOST_CHECK_NE(a.addr, 0u);
      BOOST_CHECK_EQUAL(a.addr % (2 * kMiB), 0u);
      BOOST_CHECK_EQUAL(probe.finish(), 0);
      std::string err = probe.stderr_text();
      BOOST_CHECK_NE(err.find(std::string(c.name) + "='" + c.value + "' is not valid"), std::string::npos);
      BOOST_CHECK_NE(err.find(c.accepted_fragment), std::string::npos);
      BOOST_CHECK_NE(err.find("using the default"), std::string::npos);
      BOOST_CHECK_EQUAL(std::count(err.begin(), err.end(), '\n'), 1);  // exactly one line
    }
  }
}

// HUGESHIM_REGISTER_CHUNK was renamed HUGESHIM_REGISTER_MAX (it is a size
// limit, not a chunk): the old name still applies, with one line saying so,
// and loses to the new one when both are set.
BOOST_AUTO_TEST_CASE(deprecated_register_chunk_is_read_with_one_line) {
  unsetenv("HUGESHIM_REGISTER_MAX");
  setenv("HUGESHIM_REGISTER_CHUNK", "8MiB", 1);
  hugeshim::options_load();
  BOOST_CHECK_EQUAL(hugeshim::g_options.register_max, 8ull << 20);
  setenv("HUGESHIM_REGISTER_MAX", "16MiB", 1);
  hugeshim::options_load();
  BOOST_CHECK_EQUAL(hugeshim::g_options.register_max, 16ull << 20);
  unsetenv("HUGESHIM_REGISTER_MAX");
  unsetenv("HUGESHIM_REGISTER_CHUNK");

  Probe probe(with_shim({{"HUGESHIM_REGISTER_CHUNK", "8MiB"}, {"HUGESHIM_PAGES", "thp"}}));
  BOOST_CHECK_EQUAL(probe.finish(), 0);
  std::string err = probe.stderr_text();
  BOOST_CHECK_NE(err.find("HUGESHIM_REGISTER_CHUNK is deprecated: use HUGESHIM_REGISTER_MAX"), std::string::npos);
  BOOST_CHECK_EQUAL(std::count(err.begin(), err.end(), '\n'), 1);
}
