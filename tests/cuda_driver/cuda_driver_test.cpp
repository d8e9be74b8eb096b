// The driver API path against the libcuda double: a library carrying a
// static cudart reaches cuMemHostAlloc & co. through cuGetProcAddress or
// dlsym; under the shim every call returns what the double returns, and
// each large one leaves one ring record with its api, size, flags, result,
// latency and pages. Disabled, or without cuda in HUGESHIM_INTERCEPT, the
// program gets the double's own entry points and nothing is recorded.
#define BOOST_TEST_MODULE cuda_driver
#include <boost/test/unit_test.hpp>

#include <sstream>

#include "cuda_run.h"
#include "hugeshim/events.h"

using namespace cuda_test;

namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr const char* kApp = "cuda_driver_app";

// cuda_env with a pool-free ladder: the driver double allocates the pinned
// memory itself (foreign to the shim), so hugetlb pages play no part here,
// and this test does not hold the pool lock.
hugeshim_test::Env driver_env(hugeshim_test::Env extra = {}) {
  extra.emplace("HUGESHIM_PAGES", hugeshim_test::kPoolFreeLadder);
  return cuda_env(extra);
}

// The app's lines without pointer values (they differ between runs) and
// without the line saying whether wrappers were handed out.
std::vector<std::string> answers(const AppRun& r) {
  std::vector<std::string> out;
  for (const std::string& l : r.lines) {
    if (l.rfind("wrapped=", 0) == 0) continue;
    std::istringstream in(l);
    std::string word, kept;
    while (in >> word)
      if (word.rfind("ptr=", 0) != 0) kept += (kept.empty() ? "" : " ") + word;
    out.push_back(kept);
  }
  return out;
}

std::string line_of(const AppRun& r, const std::string& step) {
  for (const std::string& l : r.lines)
    if (l.rfind(step + " ", 0) == 0 || l.rfind(step + "=", 0) == 0) return l;
  return "";
}

uint64_t ptr_of(const AppRun& r, const std::string& step) {
  return std::stoull(field(line_of(r, step), "ptr"), nullptr, 16);
}

std::vector<hugeshim_ring_record> driver_records(const AppRun& r) {
  std::vector<hugeshim_ring_record> out;
  for (const auto& rec : r.records)
    if (rec.api >= HUGESHIM_API_CU_MEM_HOST_ALLOC && rec.api <= HUGESHIM_API_CU_MEM_HOST_UNREGISTER)
      out.push_back(rec);
  return out;
}

uint64_t page_total(const hugeshim_ring_record& rec) {
  uint64_t n = 0;
  for (uint64_t b : rec.page_bytes) n += b;
  return n;
}

void check_records(const AppRun& r) {
  const uint32_t kFailed = HUGESHIM_EVENT_FAILED, kForeign = HUGESHIM_EVENT_FOREIGN;
  auto allocs = of_api(r, HUGESHIM_API_CU_MEM_HOST_ALLOC);
  // before cuInit (3), 8 MiB, 8 MiB WriteCombined, bad flags (1); 64 KiB is small.
  BOOST_REQUIRE_EQUAL(allocs.size(), 4u);
  BOOST_TEST(allocs[0].result == 3);
  BOOST_TEST((allocs[0].flags & kFailed) != 0u);
  BOOST_TEST(allocs[1].result == 0);
  BOOST_TEST(allocs[1].flags == kForeign);
  BOOST_TEST(allocs[1].requested == 8 * kMiB);
  BOOST_TEST(allocs[1].address == ptr_of(r, "host_alloc"));
  BOOST_TEST(allocs[1].page_bytes[HUGESHIM_PAGE_BASE] == 8 * kMiB);  // mlocked base pages
  BOOST_TEST(allocs[1].translations == 2048u);
  BOOST_TEST(allocs[1].phase_ns[HUGESHIM_PHASE_REGISTER] > 0u);
  BOOST_TEST(allocs[1].mapped == 0u);
  BOOST_TEST(allocs[1].caller != 0u);
  BOOST_TEST(allocs[2].cuda_flags == 4u);
  BOOST_TEST(allocs[2].result == 0);
  BOOST_TEST(allocs[3].result == 1);
  BOOST_TEST(allocs[3].cuda_flags == 0x100u);
  BOOST_TEST(allocs[3].flags == kFailed);
  BOOST_TEST(page_total(allocs[3]) == 0u);

  auto alloc_host = of_api(r, HUGESHIM_API_CU_MEM_ALLOC_HOST);
  BOOST_REQUIRE_EQUAL(alloc_host.size(), 2u);
  BOOST_TEST(alloc_host[0].requested == 12 * kMiB);  // cuMemAllocHost_v2
  BOOST_TEST(alloc_host[1].requested == 6 * kMiB);   // cuMemAllocHost (32-bit size)
  BOOST_TEST(alloc_host[1].address == ptr_of(r, "alloc_host_v1"));

  auto frees = of_api(r, HUGESHIM_API_CU_MEM_FREE_HOST);  // the small and the bogus free are counted only
  BOOST_REQUIRE_EQUAL(frees.size(), 4u);
  const uint64_t freed[] = {8 * kMiB, 8 * kMiB, 12 * kMiB, 6 * kMiB};
  for (size_t i = 0; i < 4; ++i) {
    BOOST_TEST(frees[i].requested == freed[i]);
    BOOST_TEST(frees[i].result == 0);
    BOOST_TEST(frees[i].flags == kForeign);
  }
  BOOST_TEST(frees[0].address == allocs[1].address);

  auto regs = of_api(r, HUGESHIM_API_CU_MEM_HOST_REGISTER);
  BOOST_REQUIRE_EQUAL(regs.size(), 2u);
  BOOST_TEST(regs[0].result == 0);
  BOOST_TEST(regs[0].flags == kForeign);
  BOOST_TEST(regs[0].requested == 16 * kMiB);
  BOOST_TEST(regs[0].address == ptr_of(r, "host_register"));
  BOOST_TEST(regs[0].page_bytes[HUGESHIM_PAGE_BASE] + regs[0].page_bytes[HUGESHIM_PAGE_THP] == 16 * kMiB);
  BOOST_TEST(regs[1].result == 712);
  BOOST_TEST((regs[1].flags & kFailed) != 0u);

  auto unregs = of_api(r, HUGESHIM_API_CU_MEM_HOST_UNREGISTER);  // the second one (713) is unknown: counted
  BOOST_REQUIRE_EQUAL(unregs.size(), 1u);
  BOOST_TEST(unregs[0].result == 0);
  BOOST_TEST(unregs[0].requested == 16 * kMiB);
  BOOST_TEST(unregs[0].address == regs[0].address);
  BOOST_TEST(driver_records(r).size() == 13u);
}

void check_path(const std::string& how) {
  AppRun native = run_app(kApp, how + "\n", driver_env(), false);
  AppRun shim = run_app(kApp, how + "\n", driver_env());
  BOOST_TEST_INFO("stderr: " << shim.err);
  BOOST_REQUIRE_EQUAL(native.status, 0);
  BOOST_REQUIRE_EQUAL(shim.status, 0);
  BOOST_TEST(line_of(native, "wrapped") == "wrapped=0 init_wrapped=0");
  // Every pinned-memory entry point handed out is a wrapper; cuInit is not.
  BOOST_TEST(line_of(shim, "wrapped") == "wrapped=6 init_wrapped=0");
  BOOST_TEST(answers(shim) == answers(native), boost::test_tools::per_element());
  BOOST_TEST(line_of(shim, "round_trip") == "round_trip ok=1");
  BOOST_TEST(line_of(shim, "alloc_host_v1") .find("seen=6291456") != std::string::npos);
  check_records(shim);
}

void check_untouched(const hugeshim_test::Env& extra) {
  for (const char* how : {"getproc", "dlsym"}) {
    AppRun native = run_app(kApp, std::string(how) + "\n", driver_env(), false);
    AppRun shim = run_app(kApp, std::string(how) + "\n", driver_env(extra));
    BOOST_TEST_INFO(how << " stderr: " << shim.err);
    BOOST_REQUIRE_EQUAL(shim.status, 0);
    BOOST_TEST(line_of(shim, "wrapped") == "wrapped=0 init_wrapped=0");
    BOOST_TEST(answers(shim) == answers(native), boost::test_tools::per_element());
    BOOST_TEST(driver_records(shim).empty());
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(through_cu_get_proc_address) { check_path("getproc"); }

BOOST_AUTO_TEST_CASE(through_dlsym_on_the_driver_handle) { check_path("dlsym"); }

BOOST_AUTO_TEST_CASE(a_shared_cudart_gets_the_drivers_own_entry_points) {
  AppRun shim = run_app(kApp, "cudart\n", driver_env());
  BOOST_TEST_INFO("stderr: " << shim.err);
  BOOST_REQUIRE_EQUAL(shim.status, 0);
  BOOST_TEST(line_of(shim, "cudart_wrapped") == "cudart_wrapped=0");
}

BOOST_AUTO_TEST_CASE(disabled_shim_hands_out_and_records_nothing) {
  check_untouched({{"HUGESHIM_DISABLE", "1"}});
}

BOOST_AUTO_TEST_CASE(without_cuda_interception_nothing_is_wrapped) {
  check_untouched({{"HUGESHIM_INTERCEPT", "malloc,mmap"}});
}
