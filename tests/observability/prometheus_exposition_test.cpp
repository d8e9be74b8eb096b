// The exposition of a snapshot built by hand: exact conversion of the ring's
// log2 histograms to cumulative buckets, label escaping, the structural
// checks (and that they catch what they claim to), and promtool's lint.
#define BOOST_TEST_MODULE prometheus_exposition
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <string>

#include "process.h"
#include "prometheus_exposition.h"
#include "prometheus_text_check.h"

using namespace hugeshim::collector;
namespace pc = prometheus_check;

namespace {

MetricsSnapshot sample_snapshot() {
  MetricsSnapshot s;
  ProcessMetrics p;
  p.pid = 4242;
  p.identity.comm = "py\"th\\on\nx";  // every character the format escapes
  p.identity.kubernetes = {"1f2e3d4c-0000-1111-2222-333344445555", "0123456789abcdef0123"};
  p.gpu_bus_ids = {"0000:1b:00.0", "0000:3d:00.0"};
  p.start_realtime_ns = 1764748800123456789ull;
  hugeshim_ring_api_counters& m = p.counts.counters[HUGESHIM_API_MALLOC];
  m.events = 7;
  m.bytes_requested = 7 << 26;
  m.bytes_mapped = 7 << 26;
  m.page_bytes[HUGESHIM_PAGE_2M] = 5 << 26;
  m.page_bytes[HUGESHIM_PAGE_THP] = 2 << 26;
  m.fallbacks[HUGESHIM_FALLBACK_NONE] = 5;
  m.fallbacks[HUGESHIM_FALLBACK_POOL_EMPTY] = 2;
  m.records_written = 6;
  m.records_dropped = 1;
  p.counts.small_calls[HUGESHIM_API_CUDA_HOST_ALLOC] = 3;
  hugeshim_ring_histogram& h = p.counts.histograms[HUGESHIM_PHASE_POPULATE][HUGESHIM_PAGE_2M];
  h.buckets[3] = 1;    // 8..15 ns: below the first bound, counted in it
  h.buckets[9] = 2;    // 512..1023 ns: exactly the first bound
  h.buckets[20] = 4;   // about 1-2 ms
  h.buckets[50] = 1;   // beyond the last bound: only in +Inf
  h.sum_ns = 1500000000123ull;
  s.processes.push_back(p);
  ProcessMetrics gone = p;
  gone.pid = 4343;
  gone.identity = {"worker", {}};
  gone.gpu_bus_ids.clear();
  gone.gone = true;
  s.processes.push_back(gone);
  s.exited.counters[HUGESHIM_API_MALLOC].events = 100;  // folded processes
  s.processes_exited = 3;
  s.directories = {{"/dev/shm/hugeshim-0", true}, {"/gone", false}};
  s.host.node_pools = {{"2M", 2 << 20, 0, 16, 4, 0, 0}, {"2M", 2 << 20, 1, 8, 8, 0, 0}};
  s.host.host_pools = {{"2M", 2 << 20, -1, 24, 12, 0, 3}};
  s.host.vmstat = {{"thp_fault_fallback", 12}, {"compact_stall", 5}};
  return s;
}

std::string le(uint32_t bucket) { return seconds_text((uint64_t{2} << bucket) - 1); }

}  // namespace

BOOST_AUTO_TEST_CASE(seconds_are_exact_decimals) {
  BOOST_TEST(seconds_text(0) == "0");
  BOOST_TEST(seconds_text(1) == "0.000000001");
  BOOST_TEST(seconds_text(1023) == "0.000001023");
  BOOST_TEST(seconds_text(1500000000) == "1.5");
  BOOST_TEST(seconds_text(2000000000) == "2");
  BOOST_TEST(seconds_text(18446744073709551615ull) == "18446744073.709551615");
}

BOOST_AUTO_TEST_CASE(ring_histogram_becomes_exact_cumulative_buckets) {
  const std::string text = render_prometheus(sample_snapshot());
  const auto samples = pc::parse(text);
  const std::map<std::string, std::string> who = {{"pid", "4242"}, {"phase", "populate"}, {"page_size", "2M"}};
  auto bucket = [&](const std::string& bound) {
    auto labels = who;
    labels["le"] = bound;
    return pc::value_of(samples, "hugeshim_process_phase_duration_seconds_bucket", labels);
  };
  BOOST_TEST(le(kFirstBucket) == "0.000001023");
  BOOST_TEST(*bucket(le(kFirstBucket)) == 3);  // buckets 3 and 9: every duration <= 1023 ns
  BOOST_TEST(*bucket(le(19)) == 3);           // bucket 20 holds 2^20..2^21-1 ns: not yet
  BOOST_TEST(*bucket(le(20)) == 7);
  BOOST_TEST(*bucket(le(kLastBucket)) == 7);   // bucket 50 is past the last bound
  BOOST_TEST(*bucket("+Inf") == 8);
  BOOST_TEST(!bucket(le(kFirstBucket - 1)));   // no bounds below the first
  BOOST_TEST(*pc::value_of(samples, "hugeshim_process_phase_duration_seconds_count", who) == 8);
  BOOST_TEST(text.find("hugeshim_process_phase_duration_seconds_sum{pid=\"4242\"") != std::string::npos);
  BOOST_TEST(text.find("page_size=\"2M\"} 1500.000000123\n") != std::string::npos);
  // Only the phase x page size with observations, per process.
  BOOST_TEST(!pc::value_of(samples, "hugeshim_process_phase_duration_seconds_count",
                           {{"pid", "4242"}, {"phase", "register"}}));
}

BOOST_AUTO_TEST_CASE(exporter_totals_sum_listed_and_exited_processes) {
  const auto samples = pc::parse(render_prometheus(sample_snapshot()));
  BOOST_TEST(*pc::value_of(samples, "hugeshim_calls_total", {{"api", "malloc"}}) == 100 + 7 + 7);
  BOOST_TEST(*pc::value_of(samples, "hugeshim_fallbacks_total", {{"reason", "pool_empty"}}) == 4);
  BOOST_TEST(*pc::value_of(samples, "hugeshim_records_dropped_total", {{"api", "malloc"}}) == 2);
  BOOST_TEST(*pc::value_of(samples, "hugeshim_phase_duration_seconds_count", {{"phase", "populate"}, {"page_size", "2M"}}) == 16);
  // Every series of the exporter's totals exists from the start, zero or not.
  BOOST_TEST(*pc::value_of(samples, "hugeshim_calls_total", {{"api", "cuMemHostRegister"}}) == 0);
  BOOST_TEST(*pc::value_of(samples, "hugeshim_phase_duration_seconds_count", {{"phase", "register"}, {"page_size", "1G"}}) == 0);
  BOOST_TEST(*pc::value_of(samples, "hugeshim_exporter_processes_exited_total") == 3);
  BOOST_TEST(*pc::value_of(samples, "hugeshim_exporter_processes") == 2);
  BOOST_TEST(*pc::value_of(samples, "hugeshim_process_exited", {{"pid", "4343"}}) == 1);
  BOOST_TEST(*pc::value_of(samples, "hugeshim_process_exited", {{"pid", "4242"}}) == 0);
  BOOST_TEST(*pc::value_of(samples, "hugeshim_process_fallbacks_total", {{"pid", "4242"}, {"reason", "pool_empty"}}) == 2);
  BOOST_TEST(!pc::value_of(samples, "hugeshim_process_fallbacks_total", {{"pid", "4242"}, {"reason", "none"}}));
  BOOST_TEST(*pc::value_of(samples, "hugeshim_process_small_calls_total", {{"pid", "4242"}, {"api", "cudaHostAlloc"}}) == 3);
  BOOST_TEST(*pc::value_of(samples, "hugeshim_exporter_ring_directory_readable", {{"dir", "/gone"}}) == 0);
}

BOOST_AUTO_TEST_CASE(process_labels_and_host_memory) {
  const std::string text = render_prometheus(sample_snapshot());
  const auto samples = pc::parse(text);
  BOOST_TEST(text.find("comm=\"py\\\"th\\\\on\\nx\"") != std::string::npos);
  const auto calls = pc::value_of(samples, "hugeshim_process_calls_total",
                                  {{"pid", "4242"}, {"comm", "py\"th\\on\nx"}, {"gpu_bus_id", "0000:1b:00.0,0000:3d:00.0"},
                                   {"pod_uid", "1f2e3d4c-0000-1111-2222-333344445555"}, {"container_id", "0123456789abcdef0123"}});
  BOOST_TEST(calls.value_or(-1) == 7);
  // Empty labels are left out (Prometheus reads absent and empty alike).
  BOOST_TEST(text.find("hugeshim_process_calls_total{pid=\"4343\",comm=\"worker\",api=\"malloc\"} 7\n") != std::string::npos);
  BOOST_TEST(*pc::value_of(samples, "hugeshim_process_start_time_seconds", {{"pid", "4242"}}) == 1764748800.123456789);
  BOOST_TEST(*pc::value_of(samples, "hugeshim_hugetlb_pool_size_bytes", {{"node", "0"}, {"page_size", "2M"}}) == 16.0 * (2 << 20));
  BOOST_TEST(*pc::value_of(samples, "hugeshim_hugetlb_pool_free_bytes", {{"node", "1"}, {"page_size", "2M"}}) == 8.0 * (2 << 20));
  BOOST_TEST(*pc::value_of(samples, "hugeshim_hugetlb_pool_reserved_bytes", {{"page_size", "2M"}}) == 3.0 * (2 << 20));
  BOOST_TEST(*pc::value_of(samples, "hugeshim_vmstat_thp_fault_fallback_total") == 12);
  BOOST_TEST(*pc::value_of(samples, "hugeshim_vmstat_compact_stall_total") == 5);
}

BOOST_AUTO_TEST_CASE(exposition_is_structurally_sound_and_passes_promtool) {
  const std::string text = render_prometheus(sample_snapshot());
  const auto problems = pc::structural_problems(text);
  for (const auto& p : problems) BOOST_TEST_MESSAGE(p);
  BOOST_TEST(problems.empty());
  const auto lint = hugeshim_test::run({"promtool", "check", "metrics"}, {}, text);
  BOOST_TEST(lint.status == 0, "promtool check metrics: " << lint.out << lint.err);
  BOOST_TEST(lint.out + lint.err == "");  // not even a lint warning
}

BOOST_AUTO_TEST_CASE(structural_checks_catch_what_promtool_does_not) {
  const std::string head = "# HELP h_seconds x\n# TYPE h_seconds histogram\n";
  auto problems = [](const std::string& text) { return pc::structural_problems(text).size(); };
  const std::string good = head +
                           "h_seconds_bucket{le=\"1\"} 1\nh_seconds_bucket{le=\"2\"} 3\nh_seconds_bucket{le=\"+Inf\"} 3\n"
                           "h_seconds_sum 4\nh_seconds_count 3\n";
  BOOST_TEST(problems(good) == 0u);
  const std::string falling = head +
                              "h_seconds_bucket{le=\"1\"} 4\nh_seconds_bucket{le=\"2\"} 3\nh_seconds_bucket{le=\"+Inf\"} 4\n"
                              "h_seconds_sum 4\nh_seconds_count 4\n";
  const std::string le_order = head +
                               "h_seconds_bucket{le=\"2\"} 1\nh_seconds_bucket{le=\"1\"} 1\nh_seconds_bucket{le=\"+Inf\"} 1\n"
                               "h_seconds_sum 1\nh_seconds_count 1\n";
  const std::string inf_count = head + "h_seconds_bucket{le=\"1\"} 1\nh_seconds_bucket{le=\"+Inf\"} 2\nh_seconds_sum 1\nh_seconds_count 3\n";
  const std::string no_inf = head + "h_seconds_bucket{le=\"1\"} 1\nh_seconds_sum 1\nh_seconds_count 1\n";
  const std::string twice_help = "# HELP c_total x\n# HELP c_total y\n# TYPE c_total counter\nc_total 1\n";
  const std::string twice_series = "# HELP c_total x\n# TYPE c_total counter\nc_total{a=\"1\"} 1\nc_total{a=\"1\"} 2\n";
  const std::string split = "# HELP c_total x\n# TYPE c_total counter\nc_total{a=\"1\"} 1\n# HELP d x\n# TYPE d gauge\nd 1\nc_total{a=\"2\"} 1\n";
  for (const std::string* bad : {&falling, &le_order, &inf_count, &no_inf, &twice_help, &twice_series, &split})
    BOOST_TEST(problems(*bad) > 0u, "not caught:\n" << *bad);
  // promtool itself lets a falling histogram through: the reason for the checks above.
  const auto lint = hugeshim_test::run({"promtool", "check", "metrics"}, {}, falling);
  BOOST_TEST_MESSAGE("promtool on falling buckets: status " << lint.status << " " << lint.err);
}

BOOST_AUTO_TEST_CASE(label_values_are_made_utf8) {
  MetricsSnapshot s;
  ProcessMetrics p;
  p.pid = 1;
  p.identity.comm = "a\xff\xfe" "b\xc3\xa9\xed\xa0\x80\xe2\x82";  // invalid, é, a surrogate, a cut sequence
  p.counts.counters[HUGESHIM_API_MALLOC].events = 1;
  s.processes.push_back(p);
  const std::string text = render_prometheus(s);
  const std::string want = "comm=\"a\xEF\xBF\xBD\xEF\xBF\xBD" "b\xC3\xA9\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"";
  BOOST_TEST(text.find(want) != std::string::npos);
  const auto lint = hugeshim_test::run({"promtool", "check", "metrics"}, {}, text);
  BOOST_TEST(lint.status == 0, lint.out + lint.err);
}
