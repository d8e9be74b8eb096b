// hugeshim-bench (`hugeshim bench`): how much huge pages help on this host.
//
// For sizes from --min to --max (default 64 MiB to 4 GiB, x4 steps) it
// measures, per backing, the seconds per GiB of reserve (mmap or malloc),
// populate (MADV_POPULATE_WRITE, one thread), mlock and, when libcudart and
// a GPU are present, cudaHostRegister and cudaHostAlloc, and the ratio of
// each median to base pages'. Backings: base pages, THP (MADV_HUGEPAGE),
// hugetlb 2 MiB, hugetlb 1 GiB where the host has them, and the shim's
// default path (a child with libhugeshim.so preloaded mallocs the size).
// Every measurement maps fresh memory; repeats are interleaved (each round
// runs every size and backing, the backing order rotating per round).
// When the hugetlb pool is short and the bench runs as root it grows the
// pool for the run and restores it on exit, SIGINT and SIGTERM included.
// The pool pages a run uses are touched once before the first round (see
// hugetlb_warm), so hugetlb and shim rows start equally warm.
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "backing_run.h"
#include "bench_report.h"
#include "cuda_runtime.h"
#include "hugetlb_pool.h"

using namespace hugeshim_bench;

namespace {

constexpr size_t k2M = size_t{2} << 20, k1G = size_t{1} << 30;

const char kUsage[] =
    "usage: hugeshim bench [--min SIZE] [--max SIZE] [--repeat N] [--backings LIST] [--no-pool]\n"
    "                      [--shim PATH] [--json]\n"
    "  --min SIZE      smallest size (default 64M); sizes grow x4 up to --max\n"
    "  --max SIZE      largest size (default 4G)\n"
    "  --repeat N      interleaved rounds, medians over them (default 3)\n"
    "  --backings LIST comma list of base, thp, hugetlb-2M, hugetlb-1G, shim (default: all)\n"
    "  --no-pool       never grow the hugetlb pool (rows it cannot cover are skipped)\n"
    "  --shim PATH     libhugeshim.so to preload (default: HUGESHIM_LIBRARY, ../lib next to this program)\n"
    "  --json          one JSON document on stdout (schema hugeshim-bench/1)\n"
    "SIZE: bytes or a number with K, M, G (KiB, MiB, GiB), a multiple of 2M.\n";

bool parse_size(const char* s, size_t* out) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (end == s || errno || *s == '-') return false;
  std::string unit = end;
  size_t mult = 1;
  if (unit == "K" || unit == "KiB") mult = size_t{1} << 10;
  else if (unit == "M" || unit == "MiB") mult = size_t{1} << 20;
  else if (unit == "G" || unit == "GiB") mult = size_t{1} << 30;
  else if (!unit.empty()) return false;
  if (v == 0 || v > (~size_t{0}) / mult) return false;
  *out = static_cast<size_t>(v) * mult;
  return true;
}

std::string first_line(const char* path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

std::string bracketed(const char* path) {
  std::string s = first_line(path);
  size_t a = s.find('['), b = s.find(']');
  return a != std::string::npos && b > a ? s.substr(a + 1, b - a - 1) : "unknown";
}

std::string self_dir() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  buf[n] = 0;
  std::string p = buf;
  return p.substr(0, p.rfind('/'));
}

std::string find_shim(const std::string& given) {
  if (!given.empty()) return access(given.c_str(), R_OK) == 0 ? given : "";
  if (const char* env = getenv("HUGESHIM_LIBRARY"); env && *env) return access(env, R_OK) == 0 ? env : "";
  for (const std::string& c : {self_dir() + "/../lib/libhugeshim.so", self_dir() + "/libhugeshim.so"})
    if (access(c.c_str(), R_OK) == 0) return c;
  return "";
}

nlohmann::json describe_host(const CudaRuntime& cuda) {
  nlohmann::json h;
  struct utsname u;
  if (uname(&u) == 0) h["kernel"] = std::string(u.release);
  h["thp_enabled"] = bracketed("/sys/kernel/mm/transparent_hugepage/enabled");
  h["thp_defrag"] = bracketed("/sys/kernel/mm/transparent_hugepage/defrag");
  h["cpus"] = sysconf(_SC_NPROCESSORS_ONLN);
  h["mem_total_bytes"] = static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  h["loadavg"] = first_line("/proc/loadavg");
  h["hugetlb_2m_available"] = hugetlb_available(k2M);
  h["hugetlb_1g_exists"] = hugetlb_size_exists(k1G);
  h["cuda"] = cuda.available() ? "available" : "unavailable: " + cuda.why_not();
  return h;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && !strcmp(argv[1], "--child")) return shim_child(strtoull(argv[2], nullptr, 10), !strcmp(argv[3], "cuda"));

  size_t min_size = size_t{64} << 20, max_size = size_t{4} << 30;
  int repeat = 3;
  bool json = false, no_pool = false;
  std::string shim_arg;
  std::set<std::string> wanted;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) {
        fprintf(stderr, "hugeshim bench: %s needs a value\n", name);
        exit(2);
      }
      return argv[++i];
    };
    if (a == "--min" || a == "--max") {
      const char* v = value(a.c_str());
      size_t* out = a == "--min" ? &min_size : &max_size;
      if (!parse_size(v, out) || *out % k2M) {
        fprintf(stderr, "hugeshim bench: %s %s: expected a size that is a multiple of 2M (64M, 1G, ...)\n", a.c_str(), v);
        return 2;
      }
    } else if (a == "--repeat") {
      const char* v = value("--repeat");
      char* end;
      long n = strtol(v, &end, 10);
      if (*end || n < 1 || n > 100) {
        fprintf(stderr, "hugeshim bench: --repeat %s: expected 1..100\n", v);
        return 2;
      }
      repeat = static_cast<int>(n);
    } else if (a == "--backings") {
      std::string list = value("--backings");
      for (size_t at = 0; at <= list.size();) {
        size_t comma = list.find(',', at);
        if (comma == std::string::npos) comma = list.size();
        std::string name = list.substr(at, comma - at);
        bool known = false;
        for (Backing b : kBackings) known = known || name == backing_name(b);
        if (!known) {
          fprintf(stderr, "hugeshim bench: --backings: unknown backing '%s' (base, thp, hugetlb-2M, hugetlb-1G, shim)\n",
                  name.c_str());
          return 2;
        }
        wanted.insert(name);
        at = comma + 1;
      }
    } else if (a == "--shim") {
      shim_arg = value("--shim");
    } else if (a == "--json") {
      json = true;
    } else if (a == "--no-pool") {
      no_pool = true;
    } else if (a == "-h" || a == "--help") {
      fputs(kUsage, stdout);
      return 0;
    } else {
      fprintf(stderr, "hugeshim bench: unknown argument '%s'\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (min_size > max_size) {
    fprintf(stderr, "hugeshim bench: --min is larger than --max\n");
    return 2;
  }
  auto want = [&](Backing b) { return wanted.empty() || wanted.count(backing_name(b)); };

  auto t_start = std::chrono::steady_clock::now();
  CudaRuntime cuda;
  Results res;
  res.repeat = repeat;
  res.host = describe_host(cuda);
  for (size_t s = min_size;; s *= 4) {
    if (s >= max_size) {
      res.sizes.push_back(max_size);
      break;
    }
    res.sizes.push_back(s);
  }

  PoolGuard pool;
  std::vector<Backing> backings;
  for (Backing b : kBackings) {
    if (!want(b)) continue;
    std::string why;
    if (b == Backing::hugetlb_2m || b == Backing::hugetlb_1g) {
      size_t page = b == Backing::hugetlb_2m ? k2M : k1G;
      if (!hugetlb_size_exists(page)) why = "the host has no " + std::string(backing_name(b)) + " pages";
      else if (b == Backing::hugetlb_1g && max_size < k1G) why = "--max is below 1G";
      else if (no_pool && hugetlb_available(page) < static_cast<long>(max_size / page))
        why = "--no-pool and the pool has " + std::to_string(hugetlb_available(page)) + " free pages";
      else if (!no_pool)
        why = pool.ensure(page, static_cast<long>((max_size + page - 1) / page));
      if (why.empty()) hugetlb_warm(page, std::min<long>(hugetlb_available(page), static_cast<long>((max_size + page - 1) / page)));
    }
    std::string shim = b == Backing::shim ? find_shim(shim_arg) : "";
    if (b == Backing::shim && shim.empty()) why = "libhugeshim.so not found (use --shim PATH)";
    if (!why.empty()) res.skipped[backing_name(b)] = why;
    else backings.push_back(b);
  }
  res.host["hugetlb_2m_available_during_run"] = hugetlb_available(k2M);
  std::string shim = find_shim(shim_arg);
  std::string self = argv[0];  // the shim child is this program again
  {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n > 0) self.assign(buf, static_cast<size_t>(n));
  }

  bool tty = isatty(2);
  size_t total = static_cast<size_t>(repeat) * res.sizes.size() * backings.size(), done = 0;
  for (int round = 0; round < repeat; ++round) {
    for (size_t size : res.sizes) {
      for (size_t k = 0; k < backings.size(); ++k) {
        Backing b = backings[(k + static_cast<size_t>(round)) % backings.size()];
        if (b == Backing::hugetlb_1g && size < k1G) {
          ++done;
          continue;
        }
        if (tty) {
          double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
          fprintf(stderr, "\r\033[Khugeshim bench: round %d/%d, %zu MiB %s (%zu/%zu, %.0f s)", round + 1, repeat,
                  size >> 20, backing_name(b), done + 1, total, el);
        }
        Sample s = b == Backing::shim ? measure_shim(self, shim, size, cuda.available()) : measure_here(b, size, cuda);
        res.samples[{static_cast<int>(b), size}].push_back(s);
        ++done;
      }
    }
  }
  if (tty) fprintf(stderr, "\r\033[K");
  res.pool_restored = pool.restore();
  res.host["loadavg_after"] = first_line("/proc/loadavg");
  res.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  if (json) printf("%s\n", to_json(res).dump(2).c_str());
  else fputs(to_text(res).c_str(), stdout);
  return res.pool_restored ? 0 : 1;
}
