// The program's own cuMemHostRegister / cuMemHostRegister_v2 (looked up with
// dlsym, so the shim's wrappers run) prepared before they reach the driver
// double (cuda/prepare.h): what the double finds on arrival, with
// HUGESHIM_PREPARE=auto and, for contrast, off (as without the change).
#define BOOST_TEST_MODULE cuda_driver_prepare
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include "cuda_run.h"
#include "hugeshim/events.h"

using namespace cuda_test;

namespace {

constexpr uint64_t kSize = 64ull << 20;
const std::string k64 = std::to_string(kSize), k32 = std::to_string(kSize / 2);

uint64_t num(const std::string& line, const char* key) { return std::stoull(field(line, key)); }

}  // namespace

BOOST_AUTO_TEST_CASE(driver_registrations_arrive_populated) {
  for (const char* v : {"1", "2"})
    for (const char* make : {"shm", "thp", "malloc"})
      for (const char* prepare : {"auto", "off"}) {
        std::string shm = "/dev/shm/hugeshim-driver-prepare-" + std::to_string(getpid());
        std::string mk = std::string(make) + " " + k64 + (std::string(make) == "shm" ? " 0" : "");
        std::string script = mk + "\nwrite " + k32 + "\nregister " + v + " " + k64 + " 0\nview\ncheck " + k32 +
                             "\nunregister\n";
        BOOST_TEST_CONTEXT("cuMemHostRegister v" << v << " " << make << " HUGESHIM_PREPARE=" << prepare) {
          AppRun r = run_app("cuda_driver_prepare_app", script,
                             cuda_env({{"HUGESHIM_PAGES", "thp"}, {"HUGESHIM_PREPARE", prepare},
                                       {"CUDA_APP_SHM", shm}}));
          unlink(shm.c_str());
          BOOST_TEST_INFO("stderr: " << r.err);
          BOOST_REQUIRE_EQUAL(r.status, 0);
          BOOST_REQUIRE_EQUAL(r.lines.size(), 6u);
          BOOST_TEST(r.lines[2] == "rc=0");
          BOOST_TEST(r.lines[4] == "bad=0");
          BOOST_TEST(r.lines[5] == "rc=0");
          uint64_t pages = num(r.lines[3], "pages"), resident = num(r.lines[3], "resident");
          uint64_t rss_kb = num(r.lines[3], "rss_kb");
          if (std::string(prepare) == "auto") {
            BOOST_TEST(resident == pages);
            BOOST_TEST(rss_kb == kSize / 1024);
          } else {
            BOOST_TEST(rss_kb <= kSize / 2 / 1024 + 2048);
          }
          auto regs = of_api(r, HUGESHIM_API_CU_MEM_HOST_REGISTER);
          BOOST_REQUIRE_EQUAL(regs.size(), 1u);
          if (std::string(prepare) == "auto") BOOST_TEST(regs[0].phase_ns[HUGESHIM_PHASE_POPULATE] > 0u);
          else BOOST_TEST(regs[0].phase_ns[HUGESHIM_PHASE_POPULATE] == 0u);
        }
      }
}

BOOST_AUTO_TEST_CASE(driver_read_only_and_io_memory) {
  // READ_ONLY (0x08) of a PROT_READ anonymous map: the zero page, nothing written.
  AppRun ro = run_app("cuda_driver_prepare_app", "romap " + k64 + "\nregister 2 " + k64 + " 8\nview\n",
                      cuda_env({{"HUGESHIM_PAGES", "thp"}}));
  BOOST_REQUIRE_EQUAL(ro.lines.size(), 3u);
  BOOST_TEST(ro.lines[1] == "rc=0");
  BOOST_TEST(num(ro.lines[2], "resident") == num(ro.lines[2], "pages"));
  BOOST_TEST(num(ro.lines[2], "anon_kb") == 0u);
  // IOMEMORY (0x04): forwarded untouched.
  AppRun io = run_app("cuda_driver_prepare_app", "thp " + k64 + "\nregister 1 " + k64 + " 4\nview\n",
                      cuda_env({{"HUGESHIM_PAGES", "thp"}}));
  BOOST_REQUIRE_EQUAL(io.lines.size(), 3u);
  BOOST_TEST(io.lines[1] == "rc=0");
  BOOST_TEST(num(io.lines[2], "resident") == 0u);
}
