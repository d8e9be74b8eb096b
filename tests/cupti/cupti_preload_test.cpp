// HUGESHIM_CUPTI=1 with the real libcupti and the real libcudart on a
// machine without a GPU driver: CUPTI cannot subscribe, and the shim must
// say so in exactly one line and change nothing else (answers, exit status,
// records). Also a libcupti that is not there, and a program that loads
// cudart only after it started.
#define BOOST_TEST_MODULE cupti_preload
#include <boost/test/unit_test.hpp>

#include <sstream>

#include "cuda_run.h"
#include "hugeshim/events.h"
#include "ring_dir.h"

using namespace cuda_test;

namespace {

constexpr const char* kScript = "alloc 20971520 0\nmallochost 8388608\nfree\nlasterror\n";

bool has_real_cuda() {
  return !hugeshim_test::read_file("/usr/local/cuda/lib64/libcudart.so.13").empty() &&
         !hugeshim_test::read_file("/usr/local/cuda/lib64/libcupti.so.13").empty();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

hugeshim_test::Env env_with(hugeshim_test::Env extra) {
  extra["HUGESHIM_PAGES"] = "thp";  // no hugetlb pool: runs beside every other test
  return cuda_env(extra);
}

}  // namespace

BOOST_AUTO_TEST_CASE(without_a_driver_one_line_and_nothing_else_changes) {
  if (!has_real_cuda()) {
    BOOST_TEST_MESSAGE("no CUDA 13 toolkit in /usr/local/cuda: skipped");
    return;
  }
  AppRun native = run_app("cuda_app_real", kScript, env_with({}), false);
  AppRun plain = run_app("cuda_app_real", kScript, env_with({}));
  AppRun cupti = run_app("cuda_app_real", kScript, env_with({{"HUGESHIM_CUPTI", "1"}}));
  BOOST_TEST_INFO("stderr with HUGESHIM_CUPTI=1: " << cupti.err);
  BOOST_REQUIRE_EQUAL(native.status, 0);
  BOOST_TEST(plain.status == native.status);
  BOOST_TEST(cupti.status == native.status);
  BOOST_TEST(plain.lines == native.lines);
  BOOST_TEST(cupti.lines == native.lines);
  BOOST_TEST(native.lines.at(0) == "rc=35 ptr=0x1234");  // the runtime without a driver: the case meant

  BOOST_TEST(plain.err.empty());
  std::vector<std::string> said = lines_of(cupti.err);
  BOOST_REQUIRE_EQUAL(said.size(), 1u);
  BOOST_TEST(said[0].find("HUGESHIM_CUPTI=1: cuptiSubscribe failed") != std::string::npos);
  BOOST_TEST(said[0].find("copies are not recorded") != std::string::npos);

  // The same events as without the option, and no copy event.
  BOOST_TEST(cupti.records.size() == plain.records.size());
  BOOST_TEST(of_api(cupti, HUGESHIM_API_CUDA_MEMCPY).empty());
  BOOST_TEST(of_api(cupti, HUGESHIM_API_CUDA_HOST_ALLOC).size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_missing_libcupti_is_one_line) {
  if (!has_real_cuda()) return;
  AppRun native = run_app("cuda_app_real", kScript, env_with({}), false);
  AppRun cupti = run_app("cuda_app_real", kScript,
                         env_with({{"HUGESHIM_CUPTI", "1"},
                                   {"HUGESHIM_CUPTI_LIBRARY", "/nonexistent/libcupti.so.13"}}));
  BOOST_TEST(cupti.status == native.status);
  BOOST_TEST(cupti.lines == native.lines);
  std::vector<std::string> said = lines_of(cupti.err);
  BOOST_REQUIRE_EQUAL(said.size(), 1u);
  BOOST_TEST(said[0].find("HUGESHIM_CUPTI=1: cannot load libcupti: /nonexistent/libcupti.so.13") !=
             std::string::npos, said[0]);
  BOOST_TEST(said[0].find("copies are not recorded") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_profiler_injected_through_cuda_keeps_cupti) {
  if (!has_real_cuda()) return;
  AppRun native = run_app("cuda_app_real", kScript, env_with({}), false);
  AppRun cupti = run_app("cuda_app_real", kScript,
                         env_with({{"HUGESHIM_CUPTI", "1"},
                                   {"CUDA_INJECTION64_PATH", "/nonexistent/libToolsInjection64.so"}}));
  BOOST_TEST(cupti.status == native.status);
  BOOST_TEST(cupti.lines == native.lines);
  std::vector<std::string> said = lines_of(cupti.err);
  BOOST_REQUIRE_EQUAL(said.size(), 1u);
  BOOST_TEST(said[0].find("HUGESHIM_CUPTI=1: CUDA_INJECTION64_PATH=/nonexistent/libToolsInjection64.so") !=
             std::string::npos, said[0]);
}

BOOST_AUTO_TEST_CASE(off_by_default_and_a_bad_value_is_the_usual_line) {
  if (!has_real_cuda()) return;
  AppRun bad = run_app("cuda_app_real", kScript, env_with({{"HUGESHIM_CUPTI", "yes please"}}));
  std::vector<std::string> said = lines_of(bad.err);
  BOOST_REQUIRE_EQUAL(said.size(), 1u);
  BOOST_TEST(said[0].find("HUGESHIM_CUPTI='yes please' is not valid") != std::string::npos, said[0]);
  BOOST_TEST(bad.status == 0);
}

BOOST_AUTO_TEST_CASE(cudart_loaded_after_start_starts_cupti_at_the_first_cuda_call) {
  if (!has_real_cuda()) return;
  hugeshim_test::RunResult native =
      hugeshim_test::run({hugeshim_test::bin_dir() + "/cupti_late_app"}, env_with({}));
  hugeshim_test::RingDir ring;
  hugeshim_test::RunResult r =
      hugeshim_test::run({hugeshim_test::bin_dir() + "/cupti_late_app"},
                         hugeshim_test::with_shim(ring.recording(env_with({{"HUGESHIM_CUPTI", "1"}}))));
  BOOST_TEST_INFO("stderr: " << r.err);
  BOOST_TEST(r.status == native.status);
  BOOST_TEST(r.out == native.out);
  BOOST_TEST(native.out == "rc=35\n");
  std::vector<std::string> said = lines_of(r.err);
  BOOST_REQUIRE_EQUAL(said.size(), 4u);
  BOOST_TEST(said[0] == "app: started");
  BOOST_TEST(said[1] == "app: cudart loaded");
  BOOST_TEST(said[2].find("HUGESHIM_CUPTI=1: cuptiSubscribe failed") != std::string::npos);
  BOOST_TEST(said[3] == "app: called");
}
