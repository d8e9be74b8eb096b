// Real programs under the preload give byte-identical output and the same
// exit status as without it: python3 with numpy, sort, xz and git, each with
// a workload that makes allocations above the threshold. And the shim did
// serve those: the rings of the programs' processes count large allocations
// and put their bytes on huge pages.
#define BOOST_TEST_MODULE real_programs
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "hugeshim/events.h"
#include "process.h"
#include "ring_dir.h"
#include "thp_mode.h"

using namespace hugeshim_test;
namespace fs = std::filesystem;

namespace {

struct Scratch {
  fs::path dir;
  Scratch() {
    char buf[] = "/tmp/hugeshim-real-XXXXXX";
    dir = mkdtemp(buf);
  }
  ~Scratch() { fs::remove_all(dir); }
};

// The calls that allocate: their large events are what the shim serves.
constexpr uint32_t kAllocatingApis[] = {
    HUGESHIM_API_MALLOC,        HUGESHIM_API_CALLOC,   HUGESHIM_API_REALLOC, HUGESHIM_API_POSIX_MEMALIGN,
    HUGESHIM_API_ALIGNED_ALLOC, HUGESHIM_API_MEMALIGN, HUGESHIM_API_VALLOC,  HUGESHIM_API_PVALLOC,
    HUGESHIM_API_MMAP};

// Runs the command with and without the shim; both must agree. The shimmed
// run records into a private ring directory: every process the command
// starts leaves a segment whose counters are exact however many records its
// full ring dropped, and together they must show large allocations served
// from huge pages (a shim that passed everything through records none).
void same_with_and_without(const std::vector<std::string>& argv, const std::string& input = "") {
  RingDir rings;
  Env shim = with_shim(rings.recording({{"HUGESHIM_MIN_SIZE", "1MiB"}, {"HUGESHIM_PAGES", "2M,thp"}}));
  RunResult plain = run(argv, {}, input);
  RunResult preloaded = run(argv, shim, input);
  BOOST_CHECK_EQUAL(plain.status, 0);
  BOOST_CHECK_EQUAL(preloaded.status, plain.status);
  BOOST_CHECK(preloaded.out == plain.out);
  BOOST_CHECK_MESSAGE(preloaded.err.find("hugeshim[") == std::string::npos, preloaded.err);
  BOOST_CHECK(!plain.out.empty());

  RingContents served = rings.drain();
  uint64_t events = 0, mapped = 0, huge = 0;
  for (uint32_t api : kAllocatingApis) {
    const hugeshim_ring_api_counters& c = served.counters[api];
    events += c.events;
    mapped += c.bytes_mapped;
    huge += c.page_bytes[HUGESHIM_PAGE_1G] + c.page_bytes[HUGESHIM_PAGE_2M] + c.page_bytes[HUGESHIM_PAGE_THP];
  }
  BOOST_TEST_MESSAGE(served.segments << " processes, " << events << " large allocations, " << mapped
                                     << " bytes mapped, " << huge << " on huge pages");
  BOOST_CHECK_GT(events, 0u);
  BOOST_CHECK_GT(huge, 0u);
  // With THP to take what the pool does not, the 2M,thp ladder leaves on
  // base pages only what is under 2 MiB: tails, whole allocations between
  // the 1 MiB threshold and 2 MiB (git's 1 to 1.3 MiB buffers, about an
  // eighth of its bytes), and the window at the old end of a block that grew
  // in place from a base tail. Most bytes must be huge.
  if (thp_enabled())
    BOOST_CHECK_GT(2 * huge, mapped);
  else
    BOOST_TEST_MESSAGE("THP is '" << thp_mode() << "' on this host: bytes beyond the pool stay on base pages, "
                       "base-page share not checked");
}

}  // namespace

BOOST_AUTO_TEST_CASE(python3_with_numpy) {
  HugePool pool(128);
  same_with_and_without({"/usr/bin/python3", "-c",
                         "import numpy as np, hashlib\n"
                         "a = np.arange(16 << 20, dtype=np.int64)\n"   // 128 MiB
                         "b = (a * 3 + 1) % 1000003\n"
                         "c = np.sort(b[::3].copy())\n"
                         "bufs = [bytearray(8 << 20) for _ in range(8)]\n"
                         "for i, x in enumerate(bufs): x[::4096] = bytes([i]) * len(x[::4096])\n"
                         "h = hashlib.sha256(c.tobytes())\n"
                         "for x in bufs: h.update(x)\n"
                         "print(h.hexdigest(), int(b.sum()))\n"});
}

BOOST_AUTO_TEST_CASE(sort_a_large_input) {
  Scratch s;
  fs::path in = s.dir / "lines";
  {
    std::ofstream f(in);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 600000; ++i) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      f << x << " line " << i << "\n";
    }
  }
  same_with_and_without({"sort", "-S", "64M", in.string()});
}

BOOST_AUTO_TEST_CASE(xz_round_trip) {
  Scratch s;
  std::string data;
  for (int i = 0; i < 200000; ++i) data += "hugeshim record " + std::to_string(i * 7919 % 100003) + "\n";
  same_with_and_without({"sh", "-c", "xz -6 -T1 -c | xz -d -c | sha256sum"}, data);
}

BOOST_AUTO_TEST_CASE(git_commit_and_gc) {
  Scratch s;
  std::string script =
      "set -e; cd " + s.dir.string() + "; rm -rf repo; git init -q repo; cd repo; "
      "git config user.email t@example.org; git config user.name t; "
      "head -c 20000000 /dev/zero | tr '\\0' 'a' > big; seq 1 200000 > numbers; "
      "git add .; GIT_AUTHOR_DATE='2026-01-01T00:00:00Z' GIT_COMMITTER_DATE='2026-01-01T00:00:00Z' git commit -qm one; "
      "git gc -q --aggressive; git rev-parse HEAD; git cat-file -p HEAD^{tree}; git fsck --full 2>&1 | wc -l";
  same_with_and_without({"sh", "-c", script});
}
