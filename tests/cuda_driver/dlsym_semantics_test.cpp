// The shim exports dlsym and dlvsym: every lookup must answer as natively.
// Programs print what their lookups returned (objects and symbol offsets,
// dlerror texts, errno) and the output must not change under the shim, with
// a second interposer preloaded before or after it, or with the shim
// disabled; real Python programs must print the same with and without it.
#define BOOST_TEST_MODULE dlsym_semantics
#include <boost/test/unit_test.hpp>

#include "process.h"

using hugeshim_test::Env;
using hugeshim_test::RunResult;

namespace {

const std::string kProbe = hugeshim_test::bin_dir() + "/dlsym_probe";
const std::string kShim = hugeshim_test::shim_path();
const std::string kPutsProbe = RTLD_NEXT_PUTS_PROBE_PATH;

// Runs argv with exactly `preload` as LD_PRELOAD ("" for none). with_shim()
// keeps that and adds its settings wherever the shim is among them:
// telemetry off and a pool-free ladder (this test does not hold the pool lock).
RunResult run_with(const std::vector<std::string>& argv, const std::string& preload, Env env = {}) {
  env["LD_PRELOAD"] = preload;
  return hugeshim_test::run(argv, hugeshim_test::with_shim(env));
}

void same_output(const RunResult& native, const RunResult& shim) {
  BOOST_TEST(native.status == 0);
  BOOST_TEST(shim.status == 0);
  BOOST_TEST_INFO("shim stderr: " << shim.err);
  BOOST_TEST(shim.out == native.out);
}

// A Python program importing many extension modules (ctypes, sqlite3,
// numpy, ssl, ...) and printing results that depend on their lookups.
const char* kPythonImports = R"PY(
import ctypes, ctypes.util, json, sqlite3, numpy, hashlib, zlib, decimal, ssl, bz2, lzma
import array, math, struct, select, socket, unicodedata, csv, pickle, datetime, _ctypes
import importlib, os, sys, glob
libc = ctypes.CDLL(ctypes.util.find_library("c"))
print(libc.strlen(b"hugeshim"), ctypes.CDLL(None).abs(-7))
db = sqlite3.connect(":memory:")
db.execute("create table t(x)"); db.executemany("insert into t values(?)", [(i,) for i in range(100)])
print(db.execute("select sum(x), count(*) from t").fetchone())
print(numpy.linalg.det(numpy.array([[2.0, 1.0], [1.0, 3.0]])).round(6), numpy.arange(1000).sum())
print(hashlib.sha256(b"x").hexdigest()[:16], zlib.crc32(b"x"), decimal.Decimal(1) / 7)
print(json.dumps({"a": [1, 2.5, None]}), len(bz2.compress(b"a" * 1000)), len(lzma.compress(b"a")) > 0)
print(ssl.OPENSSL_VERSION_NUMBER > 0, unicodedata.name("a"))
dynload = [p for p in sys.path if p.endswith("lib-dynload")][0]
mods = sorted(os.path.basename(f).split(".")[0] for f in glob.glob(dynload + "/*.so"))
ok = []
for m in mods:
    try:
        importlib.import_module(m); ok.append(m)
    except Exception as e:
        ok.append(m + ":" + type(e).__name__)
print(len(mods), " ".join(ok))
)PY";

}  // namespace

BOOST_AUTO_TEST_CASE(lookups_answer_as_natively) {
  RunResult native = run_with({kProbe}, "");
  BOOST_REQUIRE_EQUAL(native.status, 0);
  BOOST_TEST(native.out.find("local_default_marker librtld_local_probe.so:rtld_local_probe_marker+0") !=
             std::string::npos);
  BOOST_TEST(native.out.find("cu_names_host_alloc libcu_names_double.so:cuMemHostAlloc+0") !=
             std::string::npos);
  BOOST_TEST(native.out.find("driver_host_alloc found=1 errno=1234 error=(none)") != std::string::npos);
  same_output(native, run_with({kProbe}, kShim));
  same_output(native, run_with({kProbe}, kShim, {{"HUGESHIM_DISABLE", "1"}}));
  same_output(native, run_with({kProbe}, kShim, {{"HUGESHIM_INTERCEPT", "malloc,mmap"}}));
}

BOOST_AUTO_TEST_CASE(rtld_next_interposer_works_before_and_after_the_shim) {
  RunResult native = run_with({kProbe}, kPutsProbe);
  BOOST_REQUIRE_EQUAL(native.status, 0);
  // The interposer's puts found the next one: its prefix, then the text.
  BOOST_TEST(native.out.find("[next] probe done") != std::string::npos);
  BOOST_TEST(native.out.find("next_puts libc.so.6:puts+0") != std::string::npos);
  same_output(native, run_with({kProbe}, kShim + ":" + kPutsProbe));
  same_output(native, run_with({kProbe}, kPutsProbe + ":" + kShim));
}

BOOST_AUTO_TEST_CASE(python_with_many_extension_modules_prints_the_same) {
  const std::vector<std::string> argv = {"/usr/bin/python3", "-c", kPythonImports};
  RunResult native = run_with(argv, "");
  BOOST_TEST_INFO("native stderr: " << native.err);
  BOOST_REQUIRE_EQUAL(native.status, 0);
  BOOST_TEST(native.out.find("8 7") == 0u);
  same_output(native, run_with(argv, kShim));
}
