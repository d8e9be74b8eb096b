// The program's own cudaHostRegister under the shim (cuda/prepare.h): what the
// runtime double finds when the call arrives (range_view.h: mincore and
// smaps, taken before it pins), through the CUDA 13 and the CUDA 12 double.
// Every preparing case also runs with HUGESHIM_PREPARE=off, where the range
// must arrive as the program left it: that is what the test would see
// without the change. Registration refused (801) is covered at the end.
#define BOOST_TEST_MODULE cuda_prepare
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <fstream>

#include "cuda_run.h"
#include "hugeshim/events.h"

using namespace cuda_test;

namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kSize = 64 * kMiB;
constexpr const char* kApp = "cuda_app_double";

struct View {
  uint64_t resident = 0, pages = 0, rss_kb = 0, anon_kb = 0, huge_kb = 0;
};

View view_of(const std::string& line) {
  View v;
  v.resident = std::stoull(field(line, "resident"));
  v.pages = std::stoull(field(line, "pages"));
  v.rss_kb = std::stoull(field(line, "rss_kb"));
  v.anon_kb = std::stoull(field(line, "anon_kb"));
  v.huge_kb = std::stoull(field(line, "huge_kb"));
  return v;
}

std::string read_sys(const char* path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

bool thp_madvise_or_always() {
  std::string s = read_sys("/sys/kernel/mm/transparent_hugepage/enabled");
  return s.find("[madvise]") != std::string::npos || s.find("[always]") != std::string::npos;
}

// Whether an advised /dev/shm file can get huge pages: shmem_enabled forces
// them, or /dev/shm's own mount option (huge=advise, within_size, always)
// allows them; shmem_enabled=deny forbids them everywhere.
bool shmem_huge_possible() {
  std::string enabled = read_sys("/sys/kernel/mm/transparent_hugepage/shmem_enabled");
  if (enabled.find("[deny]") != std::string::npos) return false;
  if (enabled.find("[force]") != std::string::npos) return true;
  std::ifstream mounts("/proc/mounts");
  std::string device, point, type, options;
  while (mounts >> device >> point >> type >> options && std::getline(mounts, device))
    if (point == "/dev/shm")
      return options.find("huge=advise") != std::string::npos ||
             options.find("huge=within_size") != std::string::npos || options.find("huge=always") != std::string::npos;
  return false;
}

// A file name private to this test run.
struct TempFile {
  std::string path;
  explicit TempFile(const std::string& dir) {
    static int n = 0;
    path = dir + "/hugeshim-prepare-" + std::to_string(getpid()) + "-" + std::to_string(n++);
  }
  ~TempFile() { unlink(path.c_str()); }
};

hugeshim_test::Env env_of(const std::string& prepare, hugeshim_test::Env extra = {}) {
  hugeshim_test::Env e = {{"HUGESHIM_PAGES", "thp"}, {"HUGESHIM_PREPARE", prepare}};
  for (auto& [k, v] : extra) e[k] = v;
  return cuda_env(e);
}

// Runs `script` (one register in it, its view answer at view_line) and
// returns that view; every answer in `lines` is checked by the caller.
AppRun run(const std::string& script, const std::string& prepare, hugeshim_test::Env extra = {}) {
  AppRun r = run_app(kApp, script, env_of(prepare, extra));
  BOOST_TEST_INFO("stderr: " << r.err);
  BOOST_REQUIRE_EQUAL(r.status, 0);
  return r;
}

const std::string k64 = std::to_string(kSize), k32 = std::to_string(kSize / 2);

// The two runtimes: the CUDA 13 double (cuda_app's own) and the CUDA 12 one
// (through the caller library).
struct Runtime {
  const char* reg;
  const char* view;
  const char* lasterror;
};
const Runtime kRuntimes[] = {{"register", "view", "lasterror"}, {"register12", "view12", "lasterror12"}};

}  // namespace

BOOST_AUTO_TEST_CASE(anonymous_maps_arrive_populated_on_huge_pages_with_contents_intact) {
  BOOST_REQUIRE(thp_madvise_or_always());
  // thp: the program advised MADV_HUGEPAGE; mmap: a plain anonymous map (the
  // shim advises its aligned part); malloc: redirected into the shim's arena.
  for (const Runtime& rt : kRuntimes)
    for (const char* make : {"thp", "mmap", "malloc"}) {
      std::string script = std::string(make) + " " + k64 + "\nwrite " + k32 + "\n" + rt.reg + " " + k64 +
                           " 0\n" + rt.view + "\ncheck " + k32 + "\n" + rt.lasterror + "\n";
      for (const char* prepare : {"auto", "off"}) {
        BOOST_TEST_CONTEXT(rt.reg << " " << make << " HUGESHIM_PREPARE=" << prepare) {
          AppRun r = run(script, prepare);
          BOOST_REQUIRE_EQUAL(r.lines.size(), 6u);
          BOOST_TEST(r.lines[2] == "rc=0");
          View v = view_of(r.lines[3]);
          BOOST_TEST(v.pages == kSize / 4096);
          BOOST_TEST(r.lines[4] == "bad=0");  // what was written before the call is intact
          BOOST_TEST(r.lines[5] == "rc=0");
          if (std::string(prepare) == "auto") {
            BOOST_TEST(v.resident == v.pages);
            BOOST_TEST(v.rss_kb == kSize / 1024);
            BOOST_TEST(v.huge_kb >= kSize / 2 / 1024, "huge kB " << v.huge_kb);
          } else {
            BOOST_TEST(v.resident <= v.pages / 2 + 512);  // only what the program wrote
          }
          auto regs = of_api(r, HUGESHIM_API_CUDA_HOST_REGISTER);
          BOOST_REQUIRE_EQUAL(regs.size(), 1u);
          BOOST_TEST(regs[0].result == 0);
          if (std::string(prepare) == "auto") BOOST_TEST(regs[0].phase_ns[HUGESHIM_PHASE_POPULATE] > 0u);
          else BOOST_TEST(regs[0].phase_ns[HUGESHIM_PHASE_POPULATE] == 0u);
          BOOST_TEST(regs[0].phase_ns[HUGESHIM_PHASE_REGISTER] > 0u);
        }
      }
    }
}

BOOST_AUTO_TEST_CASE(shared_memory_file_arrives_populated) {
  if (!shmem_huge_possible())
    BOOST_TEST_MESSAGE("neither shmem_enabled ('" << read_sys("/sys/kernel/mm/transparent_hugepage/shmem_enabled")
                                                  << "') nor /dev/shm's mount options allow huge pages here: huge check skipped");
  for (const Runtime& rt : kRuntimes)
    for (const char* prepare : {"auto", "off"}) {
      TempFile shm("/dev/shm");
      std::string script = "shm " + k64 + " 0\nwrite " + k32 + "\n" + rt.reg + " " + k64 + " 0\n" + rt.view +
                           "\ncheck " + k32 + "\n";
      BOOST_TEST_CONTEXT(rt.reg << " HUGESHIM_PREPARE=" << prepare) {
        AppRun r = run(script, prepare, {{"CUDA_APP_SHM", shm.path}});
        BOOST_REQUIRE_EQUAL(r.lines.size(), 5u);
        BOOST_TEST(r.lines[2] == "rc=0");
        View v = view_of(r.lines[3]);
        BOOST_TEST(r.lines[4] == "bad=0");
        if (std::string(prepare) == "auto") {
          BOOST_TEST(v.rss_kb == kSize / 1024);  // mapped in this process, not only in the page cache
          if (shmem_huge_possible()) BOOST_TEST(v.huge_kb >= kSize / 2 / 1024);
        } else {
          BOOST_TEST(v.rss_kb <= kSize / 2 / 1024 + 2048);
        }
      }
    }
}

BOOST_AUTO_TEST_CASE(read_only_registrations_are_populated_without_writing) {
  for (const char* prepare : {"auto", "off"}) {
    // A PROT_READ shared file map: a write (or MADV_POPULATE_WRITE) could not
    // populate it, so being populated at the call proves a read populate.
    TempFile shm("/dev/shm");
    AppRun r = run("shm " + k64 + " 1\nregister " + k64 + " 8\nview\ncheck " + k64 + "\n", prepare,
                   {{"CUDA_APP_SHM", shm.path}});
    BOOST_REQUIRE_EQUAL(r.lines.size(), 4u);
    BOOST_TEST(r.lines[1] == "rc=0");
    BOOST_TEST(r.lines[3] == "bad=0");
    View v = view_of(r.lines[2]);
    if (std::string(prepare) == "auto") BOOST_TEST(v.rss_kb == kSize / 1024);
    else BOOST_TEST(v.rss_kb == 0u);

    // A PROT_READ anonymous map: read-populated it maps the zero page
    // (resident, no anonymous page of its own: nothing was written).
    AppRun z = run("romap " + k64 + "\nregister " + k64 + " 8\nview\n", prepare);
    BOOST_REQUIRE_EQUAL(z.lines.size(), 3u);
    BOOST_TEST(z.lines[1] == "rc=0");
    View w = view_of(z.lines[2]);
    BOOST_TEST(w.anon_kb == 0u);
    if (std::string(prepare) == "auto") BOOST_TEST(w.resident == w.pages);
    else BOOST_TEST(w.resident == 0u);
  }
}

BOOST_AUTO_TEST_CASE(io_memory_and_regular_file_maps_are_forwarded_untouched) {
  AppRun io = run("mmap " + k64 + "\nregister " + k64 + " 4\nview\n", "auto");
  BOOST_REQUIRE_EQUAL(io.lines.size(), 3u);
  BOOST_TEST(io.lines[1] == "rc=0");
  BOOST_TEST(view_of(io.lines[2]).resident == 0u);
  BOOST_TEST(view_of(io.lines[2]).rss_kb == 0u);

  TempFile file(hugeshim_test::bin_dir());  // the build tree: a regular file system
  AppRun f = run("file " + k64 + "\nregister " + k64 + " 0\nview\n", "auto", {{"CUDA_APP_FILE", file.path}});
  BOOST_REQUIRE_EQUAL(f.lines.size(), 3u);
  BOOST_TEST(f.lines[1] == "rc=0");
  BOOST_TEST(view_of(f.lines[2]).resident == 0u);
  BOOST_TEST(view_of(f.lines[2]).rss_kb == 0u);
}

BOOST_AUTO_TEST_CASE(errors_and_last_error_are_the_runtimes) {
  // A second registration of the same range: 712, left as the last error.
  const std::string script = "mmap " + k64 + "\nregister " + k64 + " 0\nregister " + k64 +
                             " 0\nlasterror\nlasterror\nadvance 4096\nregister 0 0\nlasterror\n";
  AppRun native = run_app(kApp, script, env_of("auto"), false);
  AppRun shim = run(script, "auto");
  BOOST_REQUIRE_EQUAL(native.lines.size(), shim.lines.size());
  for (size_t i = 1; i < native.lines.size(); ++i)
    if (i != 5) BOOST_TEST(native.lines[i] == shim.lines[i], "line " << i);
  BOOST_TEST(shim.lines[2] == "rc=712");
  BOOST_TEST(shim.lines[3] == "rc=712");
  BOOST_TEST(shim.lines[4] == "rc=0");
}

BOOST_AUTO_TEST_CASE(two_processes_register_the_same_shared_file) {
  TempFile shm("/dev/shm");
  auto env = hugeshim_test::with_shim(env_of("auto", {{"CUDA_APP_SHM", shm.path}, {"HUGESHIM_RING", "off"}}));
  hugeshim_test::Child a({hugeshim_test::bin_dir() + "/" + kApp}, env);
  hugeshim_test::Child b({hugeshim_test::bin_dir() + "/" + kApp}, env);
  BOOST_TEST(a.ask("shm " + k64 + " 0").find("ptr=") == 0u);
  BOOST_TEST(a.ask("write " + k64) == "ok");
  BOOST_TEST(a.ask("register " + k64 + " 0") == "rc=0");
  BOOST_TEST(b.ask("shm " + k64 + " 0").find("ptr=") == 0u);
  BOOST_TEST(b.ask("register " + k64 + " 0") == "rc=0");  // while a holds its registration
  BOOST_TEST(view_of(b.ask("view")).rss_kb == kSize / 1024);
  BOOST_TEST(b.ask("check " + k64) == "bad=0");
  BOOST_TEST(a.ask("unregister") == "rc=0");
  BOOST_TEST(b.ask("unregister") == "rc=0");
  BOOST_TEST(a.wait() == 0);
  BOOST_TEST(b.wait() == 0);
}

BOOST_AUTO_TEST_CASE(registration_refused_falls_back_to_native_allocation_once_said) {
  // CUDART_DOUBLE_REFUSE_REGISTER: every cudaHostRegister answers 801, as in
  // a Confidential Computing guest; cudaHostAlloc works.
  const std::string script =
      "alloc 8388608 0\nwrite 8388608\ncheck 8388608\nfree\nalloc 16777216 0\nfree\nlasterror\n"
      "mmap 8388608\nregister 8388608 0\nlasterror\nlasterror\n";
  hugeshim_test::Env refuse = {{"CUDART_DOUBLE_REFUSE_REGISTER", "1"}};
  AppRun native = run_app(kApp, script, env_of("auto", refuse), false);
  AppRun shim = run(script, "auto", refuse);
  BOOST_REQUIRE_EQUAL(shim.lines.size(), 11u);
  for (size_t i : {1u, 2u, 3u, 5u, 6u, 8u, 9u, 10u}) BOOST_TEST(native.lines[i] == shim.lines[i], "line " << i);
  BOOST_TEST(field(shim.lines[0], "rc") == "0");
  BOOST_TEST(field(shim.lines[4], "rc") == "0");
  BOOST_TEST(shim.lines[8] == "rc=801");   // the program's own registration: the runtime's answer
  BOOST_TEST(shim.lines[9] == "rc=801");   // and its last error
  BOOST_TEST(shim.lines[10] == "rc=0");
  // Said once per process, in one line.
  size_t said = 0;
  for (size_t at = 0; (at = shim.err.find("cudaHostRegister is refused", at)) != std::string::npos; ++at) ++said;
  BOOST_TEST(said == 1u, shim.err);
  auto allocs = of_api(shim, HUGESHIM_API_CUDA_HOST_ALLOC);
  BOOST_REQUIRE_EQUAL(allocs.size(), 2u);
  for (const auto& a : allocs) {
    BOOST_TEST(a.fallback == HUGESHIM_FALLBACK_REGISTER_REFUSED);
    BOOST_TEST((a.flags & HUGESHIM_EVENT_REDIRECTED) == 0u);
    BOOST_TEST(a.result == 0);
  }
  BOOST_TEST(std::string(hugeshim_fallback_name(HUGESHIM_FALLBACK_REGISTER_REFUSED)) == "register_refused");
}
