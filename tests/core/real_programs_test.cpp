// Real programs under the preload give byte-identical output and the same
// exit status as without it: python3 with numpy, sort, xz and git, each with
// a workload that makes allocations above the threshold.
#define BOOST_TEST_MODULE real_programs
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "process.h"

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

// Runs the command with and without the shim; both must agree.
void same_with_and_without(const std::vector<std::string>& argv, const std::string& input = "") {
  Env shim = with_shim({{"HUGESHIM_MIN_SIZE", "1MiB"}, {"HUGESHIM_PAGES", "2M,thp"}});
  RunResult plain = run(argv, {}, input);
  RunResult preloaded = run(argv, shim, input);
  BOOST_CHECK_EQUAL(plain.status, 0);
  BOOST_CHECK_EQUAL(preloaded.status, plain.status);
  BOOST_CHECK(preloaded.out == plain.out);
  BOOST_CHECK_MESSAGE(preloaded.err.find("hugeshim[") == std::string::npos, preloaded.err);
  BOOST_CHECK(!plain.out.empty());
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
